"""How the policy CLI shows things: the Dynamics-style direction table, conflict rules, history, diffs (pure)."""

from __future__ import annotations

from typing import Any

# Outlook/Exchange on the left, Dynamics 365 on the right, as in the "Synchronized fields" dialog.
ARROWS = {"both": "<->", "to_exchange": "<--", "to_crm": "-->", "none": "-x-"}
LEGEND = "<-> both ways   <-- CRM to Outlook only   --> Outlook to CRM only   -x- not synced   [fixed] not changeable"
# How a field changed on both sides since they last agreed is decided (shared.events.CONFLICT_RULES).
RULES = {
    "latest": "the later change wins, a tie goes to CRM",
    "crm_wins": "the CRM value wins",
    "exchange_wins": "the Exchange value wins",
}
DEFAULT_RULE = "latest"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def render_rule(rule: str) -> str:
    default = "" if rule == DEFAULT_RULE else f" (default {DEFAULT_RULE})"
    return f"conflict rule: {rule}: {RULES.get(rule, 'unknown rule')}{default}"


def render_fields(entity: dict[str, Any], fields: list[dict[str, Any]], rule: str | None = None) -> str:
    """One entity's field pairs: Outlook field, arrow, CRM field, then the key and marks; its conflict rule."""
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
    ruled = [] if rule is None else ["  " + render_rule(rule)]
    return "\n".join([title, *ruled, *("  " + line for line in _table(rows))])


def render_history(page: dict[str, Any]) -> str:
    entries = page["entries"]
    if not entries:
        return f"no policy changes recorded (total {page['total']})"
    rows = [["version", "time", "actor", "field", "change"]]
    for entry in entries:
        kind = entry.get("kind")
        what = f"{entry['entity']} conflict rule" if kind == "conflict_rule" else f"{entry['entity']}.{entry['field']}"
        if kind == "setting":
            what, change = f"setting {entry['field']}", f"{_flag(entry['old'])} -> {_flag(entry['new'])}"
        else:
            change = f"{entry['old'] or '-'} -> {entry['new']}"
        rows.append([str(entry["version"]), entry["at"], entry["actor"], what, change])
    shown = f"showing {page['offset'] + 1}-{page['offset'] + len(entries)} of {page['total']}, newest first"
    return "\n".join([*_table(rows), shown])


def _flag(value: Any) -> str:
    return "-" if value is None else str(value).lower()


def export_document(policy: dict[str, Any]) -> dict[str, Any]:
    """What `policy export` writes and `policy apply` reads: directions, conflict rules, the organisation settings
    and their version."""
    return {"version": policy["version"], "directions": policy["directions"],
            "conflict_rules": policy.get("conflict_rules", {}), "settings": policy.get("settings", {})}


def settings_diff(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The settings of `wanted` whose value differs from `current` (the API validates names and values)."""
    return {name: value for name, value in sorted(wanted.items()) if current.get(name) != value}


def diff(current: dict[str, dict[str, str]], wanted: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """The changes that turn `current` into `wanted` (fields absent from `wanted` stay as they are)."""
    return [
        {"entity": entity, "field": field, "direction": direction}
        for entity, fields in sorted(wanted.items())
        for field, direction in sorted(fields.items())
        if current.get(entity, {}).get(field) != direction
    ]


def rule_diff(current: dict[str, str], wanted: dict[str, str]) -> list[dict[str, str]]:
    """The rule changes that turn `current` into `wanted` (an entity `current` does not name has the default)."""
    return [
        {"entity": entity, "rule": rule}
        for entity, rule in sorted(wanted.items())
        if current.get(entity, DEFAULT_RULE) != rule
    ]


def render_diff(
    current: dict[str, dict[str, str]], changes: list[dict[str, str]],
    current_rules: dict[str, str] | None = None, rule_changes: list[dict[str, str]] | None = None,
    current_settings: dict[str, Any] | None = None, settings: dict[str, Any] | None = None,
) -> str:
    lines = []
    for change in changes:
        old = current.get(change["entity"], {}).get(change["field"])
        arrows = f"{ARROWS.get(old or '', '?')} -> {ARROWS[change['direction']]}"
        lines.append(f"  {change['entity']}.{change['field']}: {old or '-'} -> {change['direction']}  ({arrows})")
    for change in rule_changes or []:
        old = (current_rules or {}).get(change["entity"], DEFAULT_RULE)
        lines.append(f"  {change['entity']} conflict rule: {old} -> {change['rule']}")
    for name, value in (settings or {}).items():
        lines.append(f"  setting {name}: {_flag((current_settings or {}).get(name))} -> {_flag(value)}")
    return "\n".join(lines)


def parse_document(raw: Any) -> tuple[int | None, dict[str, dict[str, str]], dict[str, str]]:
    """Validate an exported document's shape: (version, directions, conflict rules); either part may be absent
    (an export from before conflict rules has none). Raises ValueError with what is wrong."""
    shape = (
        'expected a JSON object with "directions": {entity: {field: direction}} and/or "conflict_rules": {entity: rule}'
    )
    if not isinstance(raw, dict) or not ({"directions", "conflict_rules"} & raw.keys()):
        raise ValueError(shape)
    version = raw.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValueError('"version" must be an integer')
    directions, rules = raw.get("directions", {}), raw.get("conflict_rules", {})
    if not isinstance(directions, dict) or not isinstance(rules, dict):
        raise ValueError(shape)
    for entity, fields in directions.items():
        if not isinstance(fields, dict):
            raise ValueError(f'"directions.{entity}" must be an object of field: direction')
        for field, direction in fields.items():
            if direction not in ARROWS:
                raise ValueError(f"{entity}.{field}: unknown direction {direction!r}; use {', '.join(ARROWS)}")
    for entity, rule in rules.items():
        if rule not in RULES:
            raise ValueError(f"{entity}: unknown conflict rule {rule!r}; use {', '.join(RULES)}")
    return version, directions, rules
