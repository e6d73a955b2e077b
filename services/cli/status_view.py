"""How `fieldsync status` shows mailbox health: one row per mailbox folder, failing ones first (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

HEADER = ["mailbox", "folder", "last sync", "items", "status", "since", "failed polls"]


def age(text: str | None, now: datetime) -> str:
    """How long ago, e.g. "4s ago", "12m ago", "3h ago"; "never" for no time."""
    if not text:
        return "never"
    seconds = max(0, int((now - datetime.fromisoformat(text)).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def render_status(mailboxes: list[dict[str, Any]], now: datetime) -> str:
    """GET /api/v1/mailboxes as a table: folders with an error first (worst streak first), then the rest."""
    rows = []
    for mailbox in mailboxes:
        for folder in mailbox["folders"]:
            rows.append((folder.get("error") is None, -int(folder.get("failures", 0)), mailbox["mailbox"], [
                mailbox["mailbox"], folder["folder"], age(folder.get("last_success"), now),
                str(folder.get("items_synced", 0)), folder.get("error") or "ok",
                age(folder["error_since"], now) if folder.get("error_since") else "-", str(folder.get("failures", 0)),
            ]))  # fmt: skip
    if not rows:
        return "no mailbox recorded yet (exchange_capture records each mailbox after its first poll)"
    table = [HEADER] + [row for *_, row in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3][1]))]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    failing = sum(1 for ok, *_ in rows if not ok)
    folders = len(rows)
    lines.append(f"{len(mailboxes)} mailboxes, {folders} folders, {failing} failing")
    return "\n".join(lines)
