"""`python -m services.exchange_capture`: run the capture with settings from the environment (FIELDSYNC_*)."""

from services.exchange_capture.main import main

if __name__ == "__main__":
    main()
