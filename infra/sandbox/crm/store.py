"""SQLite state of the CRM sandbox: rows as JSON, a global rowversion, tombstones, tokens, settings.

All calls are synchronous and short; the app calls them from its event loop on purpose, so that
writes are serialised and `versionnumber` grows strictly in commit order, like SQL rowversion.
Each table also has an in-memory generation that grows on every write to it, so a reader can cache
what it derived from a table (the security state) until the table changes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    entity TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, versionnumber INTEGER NOT NULL,
    PRIMARY KEY (entity, id));
CREATE INDEX IF NOT EXISTS rows_by_version ON rows (entity, versionnumber);
CREATE TABLE IF NOT EXISTS tombstones (
    entity TEXT NOT NULL, id TEXT NOT NULL, versionnumber INTEGER NOT NULL, deletedon TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tombstones_by_version ON tombstones (entity, versionnumber);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires REAL NOT NULL);
"""
# Added with the password grant; a file made before it gets the column on open.
_TOKEN_USER = "ALTER TABLE tokens ADD COLUMN systemuserid TEXT"


@dataclass(frozen=True)
class Change:
    """One entry of a change-tracking page: a live row, or a deletion (row is None)."""

    kind: int  # 0 = created or updated, 1 = deleted: live rows come before deletions, as documented
    versionnumber: int
    id: str
    row: dict[str, Any] | None


class Store:
    """The sandbox's single SQLite file; safe to reopen after a restart."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(tokens)")}
        if "systemuserid" not in columns:
            self.db.execute(_TOKEN_USER)
        self._generations: dict[str, int] = {}

    def close(self) -> None:
        self.db.close()

    # -- meta and the global version counter
    def meta(self, key: str) -> str | None:
        found = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return found[0] if found else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def current_version(self) -> int:
        return int(self.meta("versionnumber") or 0)

    def tracking_floor(self) -> int:
        """Delta tokens below this version have expired (0: none has)."""
        return int(self.meta("tracking_floor") or 0)

    def expire_tracking(self) -> int:
        """Expire every delta token issued so far, as Dynamics does after the retention period, and purge
        the tombstones they could have shown (their deletes are gone from change tracking, as there).
        The version counter moves past the floor, so tokens issued from now on are valid. Returns the floor."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            floor = self._next_version()
            self.set_meta("tracking_floor", str(floor))
            self.db.execute("DELETE FROM tombstones WHERE versionnumber < ?", (floor,))
        return floor

    def _next_version(self) -> int:
        version = self.current_version() + 1
        self.set_meta("versionnumber", str(version))
        return version

    def generation(self, entity: str) -> int:
        """Grows with every write to `entity` made through this store (in memory: starts at 0 on open)."""
        return self._generations.get(entity, 0)

    def _touched(self, entity: str) -> None:
        self._generations[entity] = self.generation(entity) + 1

    # -- rows
    def get(self, entity: str, id_: str) -> dict[str, Any] | None:
        found = self.db.execute("SELECT json FROM rows WHERE entity = ? AND id = ?", (entity, id_)).fetchone()
        return json.loads(found[0]) if found else None

    def put(self, entity: str, id_: str, row: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace a row, stamping it with the next versionnumber."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = {**row, "versionnumber": self._next_version()}
            self.db.execute(
                "INSERT OR REPLACE INTO rows (entity, id, json, versionnumber) VALUES (?, ?, ?, ?)",
                (entity, id_, json.dumps(row), row["versionnumber"]),
            )
        self._touched(entity)
        return row

    def delete(self, entity: str, id_: str, deletedon: str) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM rows WHERE entity = ? AND id = ?", (entity, id_))
            self.db.execute(
                "INSERT INTO tombstones (entity, id, versionnumber, deletedon) VALUES (?, ?, ?, ?)",
                (entity, id_, self._next_version(), deletedon),
            )
        self._touched(entity)

    def rows_after(self, entity: str, after_id: str, limit: int) -> list[dict[str, Any]]:
        """Rows ordered by id (the primary key order Dynamics pages in), starting after `after_id`."""
        found = self.db.execute(
            "SELECT json FROM rows WHERE entity = ? AND id > ? ORDER BY id LIMIT ?", (entity, after_id, limit)
        )
        return [json.loads(r[0]) for r in found]

    def all_rows(self, entity: str) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT json FROM rows WHERE entity = ?", (entity,))]

    def changes(self, entity: str, since: int, upto: int, after: tuple[int, int], limit: int) -> list[Change]:
        """Changes with since < versionnumber <= upto, in (kind, versionnumber) order after `after`.

        A deletion is left out when the same id lives again with a later version.
        """
        found = self.db.execute(
            """
            SELECT kind, versionnumber, id, json FROM (
                SELECT 0 AS kind, versionnumber, id, json FROM rows
                 WHERE entity = :e AND versionnumber > :since AND versionnumber <= :upto
                UNION ALL
                SELECT 1 AS kind, t.versionnumber, t.id, NULL FROM tombstones t
                 WHERE t.entity = :e AND t.versionnumber > :since AND t.versionnumber <= :upto
                   AND NOT EXISTS (SELECT 1 FROM rows r WHERE r.entity = :e AND r.id = t.id
                                   AND r.versionnumber > t.versionnumber)
            )
            WHERE kind > :k OR (kind = :k AND versionnumber > :v)
            ORDER BY kind, versionnumber LIMIT :limit
            """,
            {"e": entity, "since": since, "upto": upto, "k": after[0], "v": after[1], "limit": limit},
        )
        return [Change(k, v, i, json.loads(j) if j else None) for k, v, i, j in found]

    # -- OAuth tokens
    def add_token(self, token: str, client_id: str, expires: float, systemuserid: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO tokens (token, client_id, expires, systemuserid) VALUES (?, ?, ?, ?)",
            (token, client_id, expires, systemuserid),
        )

    def token(self, token: str, now: float) -> tuple[str, str | None] | None:
        """(client id, systemuserid of a person's token or None) while the token is valid, else None."""
        found = self.db.execute("SELECT client_id, systemuserid, expires FROM tokens WHERE token = ?", (token,))
        row = found.fetchone()
        return (row[0], row[1]) if row and row[2] > now else None

