"""How `fieldsync deadletter` shows dead letters: a table per page, one letter in full, replay results (pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

from services.cli.conflicts_view import _table, time_cell

REASON_WIDTH = 60
VALUE_SHOWN = 4000
HEADER = ["dead-lettered (UTC)", "id", "service", "status", "key", "reason"]


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def render_page(page: dict[str, Any]) -> str:
    letters, total, offset = page["letters"], page["total"], page["offset"]
    if not letters:
        return "no dead letters kept" if total == 0 else f"no dead letters past {offset} (total {total})"
    rows = [HEADER]
    for letter in letters:
        rows.append([
            time_cell(letter["dead_lettered_at"]), letter["letter_id"], letter["service"], letter["status"],
            letter.get("key") or "-", _cut(letter["reason"], REASON_WIDTH),
        ])
    return "\n".join([*_table(rows), f"showing {offset + 1}-{offset + len(letters)} of {total}, newest first"])


def _value(value_b64: str) -> str:
    raw = base64.b64decode(value_b64)
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= VALUE_SHOWN else text[:VALUE_SHOWN] + f"\n... ({len(raw)} bytes in all)"


def render_letter(letter: dict[str, Any]) -> str:
    lines = [
        f"dead letter {letter['letter_id']} ({letter['status']})",
        f"  dead-lettered  {time_cell(letter['dead_lettered_at'])} by {letter['service']}",
        f"  origin         {letter['origin_topic']} partition {letter['origin_partition']}"
        f" offset {letter['origin_offset']}",
        f"  key            {letter.get('key') or '-'}",
        f"  reason         {letter['reason']}",
    ]
    if letter.get("exception"):
        lines.append(f"  exception      {letter['exception']}")
    if letter.get("traceback"):
        lines.append(f"  where          {letter['traceback']}")
    for entry in letter.get("history", []):
        lines.append(f"  {entry['action']:<14} {time_cell(entry['at'])} by {entry['actor']}"
                     + (f": {entry['reason']}" if entry.get("reason") else "")
                     + (f" (to {entry['topic']})" if entry.get("topic") else ""))
    lines += ["  value:", *("    " + line for line in _value(letter["value_b64"]).splitlines())]
    return "\n".join(lines)


def render_replay(result: dict[str, Any]) -> str:
    lines = [f"replayed {letter['letter_id']} to {letter['origin_topic']}" for letter in result["replayed"]]
    lines += [f"skipped: {reason}" for reason in result.get("skipped", [])]
    return "\n".join(lines) or "nothing matched: no dead letter replayed"


def render_audit(page: dict[str, Any]) -> str:
    entries, total, offset = page["entries"], page["total"], page["offset"]
    if not entries:
        return "no replays or discards recorded" if total == 0 else f"none past {offset} (total {total})"
    rows = [["time (UTC)", "action", "actor", "dead letter", "reason or topic"]]
    for e in entries:
        detail = e.get("reason") or e.get("topic") or ""
        rows.append([time_cell(e["at"]), e["action"], e["actor"], e["letter_id"], detail])
    return "\n".join([*_table(rows), f"showing {offset + 1}-{offset + len(entries)} of {total}, newest first"])
