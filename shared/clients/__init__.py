"""One client per external system, shared by that system's capture and applier."""
