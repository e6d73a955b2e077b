"""`python -m services.crm_capture`: run the capture with settings from the environment (FIELDSYNC_*)."""

from services.crm_capture.main import main

if __name__ == "__main__":
    main()
