"""Sandbox Exchange server: the EWS (SOAP) subset that exchangelib needs, persisted in SQLite."""
