"""How `fieldsync explain` shows an explanation: each change, its fields' outcomes and the appliers' results (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.cli.conflicts_view import value_cell

SIDES = {"crm": "CRM", "exchange": "Exchange"}
WRITTEN_SHOWN = 4  # an applier result lists the values it wrote up to this many, else how many


def _clock(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def _moment(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _where(target: str, mailbox: str | None) -> str:
    return f"{SIDES.get(target, target)} {mailbox}" if target == "exchange" and mailbox else SIDES.get(target, target)


def _written(values: dict[str, Any]) -> str:
    if len(values) > WRITTEN_SHOWN:
        return f"{len(values)} fields"
    return ", ".join(f"{key}={value_cell(value)}" for key, value in values.items())


def _fields(fields: list[dict[str, Any]]) -> list[str]:
    """Synced fields on one line per target, each field that did not sync on its own line with its sentence."""
    lines: list[str] = []
    synced: dict[str, list[str]] = {}
    for f in fields:
        if f["synced"]:
            synced.setdefault(_where(f["target"], f["mailbox"]), []).append(f["field"])
    for where, names in synced.items():
        lines.append(f"  synced to {where}: {', '.join(names)}")
    for f in fields:
        if not f["synced"]:
            lines.append(f"  not synced to {_where(f['target'], f['mailbox'])}: {f['field']} ({f['reason']}): "
                         f"{f['sentence']}")
    return lines


def render_change(change: dict[str, Any]) -> list[str]:
    source = SIDES.get(change["source"], change["source"])
    if change["source"] == "exchange" and change.get("mailbox"):
        source += f" {change['mailbox']}"
    who = "fieldsync's own write" if change["origin"] == "fieldsync" else "a person"
    lines = [
        f"{_moment(change['decided_at'])}  {change['op']} from {source} ({who}), policy v{change['policy_version']}"
        f"  [change {change['change_id']}]",
        f"  occurred {_clock(change['occurred_at'])}  captured {_clock(change['captured_at'])}"
        f"  decided {_clock(change['decided_at'])}",
    ]
    lines += _fields(change["fields"])
    for target in change["targets"]:
        effect = target["effect"] or "nothing sent"
        note = f" ({target['note']})" if target["note"] != target["effect"] else ""
        lines.append(f"  {_where(target['target'], target['mailbox'])}: {effect}{note}"
                     + (f": {target['detail']}" if target.get("detail") else ""))
        for result in target["results"]:
            written = f" {_written(result['written'])}" if result["written"] else ""
            version = f" (version {result['written_version']})" if result.get("written_version") else ""
            when = _clock(result["applied_at"])
            lines.append(f"    {when} {result['result']}: {result['sentence']}{written}{version}")
            if result.get("dead_letter"):
                lines.append(f"    dead letter {result['dead_letter']}: fieldsync deadletter show|replay ID")
            elif result["result"] == "failed":
                lines.append(f"    dead-lettered: fieldsync deadletter list --service {target['target']}_applier")
        if not target["results"] and target["effect"]:
            lines.append("    no applier result kept (not applied yet, or older than the log keeps)")
    for c in change.get("conflicts", []):
        lines.append(
            f"  conflict on {c['field']} ({c['mailbox']}): CRM {value_cell(c['crm_value'])} vs Exchange "
            f"{value_cell(c['exchange_value'])}, rule {c['rule']}, winner {SIDES.get(c['winner'], c['winner'])}"
        )
    return lines


def render_explanation(answer: dict[str, Any]) -> str:
    """GET /api/v1/explain/... as text: a heading, the record's links, then each change, newest first."""
    name = answer.get("crm_id") or "(no CRM record)"
    heading = f"{answer['entity']} {name}"
    for label in ("mailbox", "field"):
        if answer.get(label):
            heading += f", {label} {answer[label]}"
    lines = [heading]
    if answer.get("exchange_id") and not answer.get("links"):
        lines.append(f"mailbox item {answer['exchange_id']} (not linked to a CRM record)")
    for mailbox, exchange_id in sorted(answer.get("links", {}).items()):
        lines.append(f"linked: {mailbox} -> {exchange_id}")
    if not answer["changes"]:
        lines.append("no decisions kept for it (none made, or all older than the explain log keeps)")
    for change in answer["changes"]:
        lines += ["", *render_change(change)]
    return "\n".join(lines)
