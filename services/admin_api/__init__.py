"""Admin API: the sync directions and conflict rules (with roles, audit and live effect) and the conflict log."""
