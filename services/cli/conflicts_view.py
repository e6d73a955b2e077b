"""How `fieldsync conflicts` shows the conflict log: one row per conflict, both values, rule and winner (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# Wide enough for a phone number or a subject, narrow enough that a row of nine columns stays readable.
VALUE_WIDTH = 32
WINNERS = {"crm": "CRM", "exchange": "Exchange"}
HEADER = ["time (UTC)", "entity", "crm id", "mailbox", "field", "CRM value", "Exchange value", "rule", "winner"]


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or time, e.g. 2025-03-01 or 2025-03-01T12:00+01:00; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or time (e.g. 2025-03-01T12:00:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def value_cell(value: Any) -> str:
    """A field value on one line: text as it is, anything else as JSON, nothing as "-", long ones cut."""
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = " ".join(text.split()) or '""'
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 3] + "..."


def time_cell(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def render_conflicts(page: dict[str, Any]) -> str:
    """One page from GET /api/v1/conflicts as a table, with where it sits in the total."""
    conflicts, total, offset = page["conflicts"], page["total"], page["offset"]
    if not conflicts:
        return "no conflicts recorded" if total == 0 else f"no conflicts past {offset} (total {total})"
    rows = [HEADER]
    for conflict in conflicts:
        rows.append([
            time_cell(conflict["decided_at"]), conflict["entity"], conflict["crm_id"], conflict["mailbox"],
            conflict["field"], value_cell(conflict["crm_value"]), value_cell(conflict["exchange_value"]),
            conflict["rule"], WINNERS.get(conflict["winner"], conflict["winner"]),
        ])
    shown = f"showing {offset + 1}-{offset + len(conflicts)} of {total}, newest first"
    return "\n".join([*_table(rows), shown])
