"""Sandbox Dynamics 365 Web API: OAuth token endpoint, entity sets, etags and change tracking over SQLite."""
