"""`python -m services.crm_applier`: run the applier with settings from the environment (FIELDSYNC_*)."""

from services.crm_applier.main import main

if __name__ == "__main__":
    main()
