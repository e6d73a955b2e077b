"""Sandbox Dynamics 365 Web API: OAuth tokens, entity sets, etags, change tracking and security over SQLite."""
