"""fieldsync services: one flat package each, one composition root (main.py) each."""
