"""SQLite state of the sandbox: mailboxes, items (JSON blob of EWS element values) and the change log."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.sandbox.exchange.sync_window import CREATE, DELETE, UPDATE, LoggedChange

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mailboxes (
    address TEXT PRIMARY KEY, display_name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, mailbox TEXT NOT NULL, folder TEXT NOT NULL, item_type TEXT NOT NULL,
    change_key TEXT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_by_folder ON items (mailbox, folder);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, mailbox TEXT NOT NULL, folder TEXT NOT NULL,
    item_id TEXT NOT NULL, kind TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_folder ON changes (mailbox, folder, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attachments (
    id TEXT PRIMARY KEY, item_id TEXT NOT NULL, mailbox TEXT NOT NULL, name TEXT NOT NULL,
    content_type TEXT NOT NULL, size INTEGER NOT NULL, modified TEXT NOT NULL, content BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS attachments_by_item ON attachments (item_id);
"""

Fields = dict[str, Any]


@dataclass(frozen=True)
class AttachmentRecord:
    """One file attachment of an item (content only where asked for)."""

    id: str
    item_id: str
    name: str
    content_type: str
    size: int
    modified: str
    content: bytes | None = None


@dataclass(frozen=True)
class ItemRecord:
    id: str
    mailbox: str
    folder: str
    item_type: str
    change_key: str
    created: str
    modified: str
    fields: Fields


def ews_now() -> str:
    """EWS timestamps are UTC with second precision (exchangelib parses exactly this form)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _change_key(seq: int) -> str:
    return base64.b64encode(b"CK" + seq.to_bytes(8, "big")).decode()


def _record(row: sqlite3.Row) -> ItemRecord:
    return ItemRecord(
        row["id"],
        row["mailbox"],
        row["folder"],
        row["item_type"],
        row["change_key"],
        row["created"],
        row["modified"],
        json.loads(row["fields"]),
    )


class Store:
    """One connection guarded by a lock: every method is one short transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- sync states -----------------------------------------------------------------------------

    def sync_generation(self) -> int:
        """The generation the sync states issued now carry; a state of another generation has expired."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'sync_generation'").fetchone()
        return int(row["value"]) if row else 0

    def expire_sync_states(self) -> int:
        """Invalidate every sync state issued so far (as a mailbox move or a store repair does); returns the
        new generation. Clients get ErrorInvalidSyncStateData and must sync their folders afresh."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'sync_generation'").fetchone()
            generation = (int(row["value"]) if row else 0) + 1
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sync_generation', ?)", (str(generation),))
        return generation

    # -- mailboxes -------------------------------------------------------------------------------

    def ensure_mailbox(self, address: str, display_name: str) -> tuple[dict[str, str], bool]:
        with self._transaction() as db:
            row = db.execute("SELECT * FROM mailboxes WHERE address = ?", (address,)).fetchone()
            if row is not None:
                return dict(row), False
            db.execute("INSERT INTO mailboxes VALUES (?, ?, ?)", (address, display_name, ews_now()))
            return {"address": address, "display_name": display_name}, True

    def list_mailboxes(self) -> list[dict[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT address, display_name FROM mailboxes ORDER BY address")
            return [dict(row) for row in rows]

    def mailbox(self, address: str) -> dict[str, str] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM mailboxes WHERE address = ?", (address,)).fetchone()
        return dict(row) if row else None

    # -- items -----------------------------------------------------------------------------------

    def _log(self, db: sqlite3.Connection, mailbox: str, folder: str, item_id: str, kind: str) -> int:
        cursor = db.execute(
            "INSERT INTO changes (mailbox, folder, item_id, kind) VALUES (?, ?, ?, ?)",
            (mailbox, folder, item_id, kind),
        )
        return int(cursor.lastrowid or 0)

    def get_item(self, mailbox: str, item_id: str) -> ItemRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM items WHERE id = ? AND mailbox = ?", (item_id, mailbox)).fetchone()
        return _record(row) if row else None

    def find_items(self, mailbox: str, folder: str) -> list[ItemRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM items WHERE mailbox = ? AND folder = ? ORDER BY created, id", (mailbox, folder)
            ).fetchall()
        return [_record(row) for row in rows]

    def count_items(self, mailbox: str, folder: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM items WHERE mailbox = ? AND folder = ?", (mailbox, folder)
            ).fetchone()
        return int(row[0])

    def create_item(self, mailbox: str, folder: str, item_type: str, fields: Fields) -> ItemRecord:
        item_id = base64.b64encode(b"FSX1" + uuid.uuid4().bytes).decode()
        now = ews_now()
        with self._transaction() as db:
            seq = self._log(db, mailbox, folder, item_id, CREATE)
            record = ItemRecord(item_id, mailbox, folder, item_type, _change_key(seq), now, now, fields)
            db.execute(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, mailbox, folder, item_type, record.change_key, now, now, json.dumps(fields)),
            )
        return record

    def update_item(self, mailbox: str, item_id: str, change: Callable[[ItemRecord], Fields]) -> ItemRecord | None:
        """Apply `change` (which may raise to refuse) to the current item atomically; None if missing."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM items WHERE id = ? AND mailbox = ?", (item_id, mailbox)).fetchone()
            if row is None:
                return None
            current = _record(row)
            fields = change(current)
            seq = self._log(db, mailbox, current.folder, item_id, UPDATE)
            now = ews_now()
            db.execute(
                "UPDATE items SET fields = ?, change_key = ?, modified = ? WHERE id = ?",
                (json.dumps(fields), _change_key(seq), now, item_id),
            )
            return ItemRecord(
                item_id, mailbox, current.folder, current.item_type, _change_key(seq), current.created, now, fields
            )

    def delete_item(self, mailbox: str, item_id: str) -> bool:
        with self._transaction() as db:
            row = db.execute("SELECT folder FROM items WHERE id = ? AND mailbox = ?", (item_id, mailbox)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))
            db.execute("DELETE FROM attachments WHERE item_id = ?", (item_id,))
            self._log(db, mailbox, row["folder"], item_id, DELETE)
            return True

    def changes_after(self, mailbox: str, folder: str, seq: int, limit: int) -> list[LoggedChange]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, item_id, kind FROM changes WHERE mailbox = ? AND folder = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (mailbox, folder, seq, limit),
            ).fetchall()
        return [LoggedChange(row["seq"], row["item_id"], row["kind"]) for row in rows]

    def items_by_id(self, mailbox: str, ids: list[str]) -> dict[str, ItemRecord]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM items WHERE mailbox = ? AND id IN ({marks})",
                (mailbox, *ids),
            ).fetchall()
        return {row["id"]: _record(row) for row in rows}

    # -- file attachments: each add or delete is a change of the item (a new ChangeKey, an Update to sync) ---------

    def _touch(self, db: sqlite3.Connection, mailbox: str, item_id: str) -> ItemRecord | None:
        row = db.execute("SELECT * FROM items WHERE id = ? AND mailbox = ?", (item_id, mailbox)).fetchone()
        if row is None:
            return None
        seq = self._log(db, mailbox, row["folder"], item_id, UPDATE)
        now = ews_now()
        db.execute("UPDATE items SET change_key = ?, modified = ? WHERE id = ?", (_change_key(seq), now, item_id))
        return ItemRecord(item_id, mailbox, row["folder"], row["item_type"], _change_key(seq), row["created"], now,
                          json.loads(row["fields"]))  # fmt: skip

    def attach(self, mailbox: str, item_id: str, attachment_id: str, name: str, content_type: str,
               content: bytes) -> ItemRecord | None:  # fmt: skip
        """Add a file to the item; the item as it is then, or None when the mailbox has no such item."""
        with self._transaction() as db:
            record = self._touch(db, mailbox, item_id)
            if record is not None:
                db.execute("INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (attachment_id, item_id, mailbox, name, content_type, len(content), ews_now(), content))
            return record

    def detach(self, mailbox: str, attachment_id: str) -> ItemRecord | None:
        """Delete a file; its item as it is then, or None when the mailbox has no such attachment."""
        with self._transaction() as db:
            row = db.execute("SELECT item_id FROM attachments WHERE id = ? AND mailbox = ?",
                             (attachment_id, mailbox)).fetchone()  # fmt: skip
            if row is None:
                return None
            db.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
            return self._touch(db, mailbox, row["item_id"])

    def attachment(self, mailbox: str, attachment_id: str) -> AttachmentRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM attachments WHERE id = ? AND mailbox = ?",
                                   (attachment_id, mailbox)).fetchone()  # fmt: skip
        return None if row is None else AttachmentRecord(row["id"], row["item_id"], row["name"], row["content_type"],
                                                         row["size"], row["modified"], bytes(row["content"]))

    def attachments_of(self, item_id: str) -> list[AttachmentRecord]:
        with self._lock:
            rows = self._db.execute("SELECT id, item_id, name, content_type, size, modified FROM attachments "
                                    "WHERE item_id = ? ORDER BY rowid", (item_id,)).fetchall()  # fmt: skip
        return [AttachmentRecord(r["id"], r["item_id"], r["name"], r["content_type"], r["size"], r["modified"])
                for r in rows]  # fmt: skip
