"""`python -m services.recorder`: run the recorder with settings from the environment (FIELDSYNC_*)."""

from services.recorder.main import main

if __name__ == "__main__":
    main()
