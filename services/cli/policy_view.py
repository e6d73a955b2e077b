"""How the policy CLI shows things: the Dynamics-style direction table, history, and diffs (pure)."""

from __future__ import annotations

from typing import Any

# Outlook/Exchange on the left, Dynamics 365 on the right, as in the "Synchronized fields" dialog.
ARROWS = {"both": "<->", "to_exchange": "<--", "to_crm": "-->", "none": "-x-"}
LEGEND = "<-> both ways   <-- CRM to Outlook only   --> Outlook to CRM only   -x- not synced   [fixed] not changeable"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def render_fields(entity: dict[str, Any], fields: list[dict[str, Any]]) -> str:
    """One entity's field pairs: Outlook field, arrow, CRM field, then the key and marks."""
    header = ["Outlook / Exchange", "", "Dynamics 365", "key", "direction", ""]
    rows = [header]
    for field in fields:
        marks = []
        if not field["changeable"]:
            marks.append("[fixed]")
        elif field["direction"] != field["default_direction"]:
            marks.append(f"(default {field['default_direction']})")
        rows.append([
            field["exchange_field"], ARROWS[field["direction"]], field["crm_field"],
            field["field"], field["direction"], " ".join(marks),
        ])
    title = f"{entity['display_name']} ({entity['name']}), {len(fields)} fields"
    return "\n".join([title, *("  " + line for line in _table(rows))])


def render_history(page: dict[str, Any]) -> str:
    entries = page["entries"]
    if not entries:
        return f"no policy changes recorded (total {page['total']})"
    rows = [["version", "time", "actor", "field", "change"]]
    for entry in entries:
        rows.append([
            str(entry["version"]), entry["at"], entry["actor"], f"{entry['entity']}.{entry['field']}",
            f"{entry['old'] or '-'} -> {entry['new']}",
        ])
    shown = f"showing {page['offset'] + 1}-{page['offset'] + len(entries)} of {page['total']}, newest first"
    return "\n".join([*_table(rows), shown])


def export_document(policy: dict[str, Any]) -> dict[str, Any]:
    """What `policy export` writes and `policy apply` reads: the directions and the version they had."""
    return {"version": policy["version"], "directions": policy["directions"]}


def diff(current: dict[str, dict[str, str]], wanted: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """The changes that turn `current` into `wanted` (fields absent from `wanted` stay as they are)."""
    return [
        {"entity": entity, "field": field, "direction": direction}
        for entity, fields in sorted(wanted.items())
        for field, direction in sorted(fields.items())
        if current.get(entity, {}).get(field) != direction
    ]


def render_diff(current: dict[str, dict[str, str]], changes: list[dict[str, str]]) -> str:
    lines = []
    for change in changes:
        old = current.get(change["entity"], {}).get(change["field"])
        arrows = f"{ARROWS.get(old or '', '?')} -> {ARROWS[change['direction']]}"
        lines.append(f"  {change['entity']}.{change['field']}: {old or '-'} -> {change['direction']}  ({arrows})")
    return "\n".join(lines)


def parse_document(raw: Any) -> tuple[int | None, dict[str, dict[str, str]]]:
    """Validate an exported document's shape; raises ValueError with what is wrong."""
    if not isinstance(raw, dict) or not isinstance(raw.get("directions"), dict):
        raise ValueError('expected a JSON object with "directions": {entity: {field: direction}}')
    version = raw.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValueError('"version" must be an integer')
    directions = raw["directions"]
    for entity, fields in directions.items():
        if not isinstance(fields, dict):
            raise ValueError(f'"directions.{entity}" must be an object of field: direction')
        for field, direction in fields.items():
            if direction not in ARROWS:
                raise ValueError(f"{entity}.{field}: unknown direction {direction!r}; use {', '.join(ARROWS)}")
    return version, directions
