"""`python -m services.exchange_applier`: run the applier with settings from the environment (FIELDSYNC_*)."""

from services.exchange_applier.main import main

if __name__ == "__main__":
    main()
