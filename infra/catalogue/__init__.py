"""Builds fieldsync's field catalogue (shared/data/catalogue.json) from the Dynamics field reference."""
