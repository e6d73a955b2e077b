"""Admin API: view and change the per-field sync directions, with roles, audit history and live effect."""
