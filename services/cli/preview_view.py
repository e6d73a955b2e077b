"""How the CLI shows a preview report (POST /api/v1/policy/preview): what changes, per field, items, a sample (pure)."""

from __future__ import annotations

from typing import Any

WAYS = {"to_exchange": "CRM -> Exchange", "to_crm": "Exchange -> CRM"}


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def render_window(report: dict[str, Any]) -> str:
    window = report["window"]
    if not window["entries"]:
        return (f"preview against policy version {report['current_version']}: the change window is empty (no change "
                "decided in the window's hours yet), so nothing can be compared")  # fmt: skip
    return (f"preview against policy version {report['current_version']} over the {window['entries']} recorded "
            f"changes ({_counts(window['by_entity'])}; made in {_counts(window['by_side'])}) decided "
            f"{window['oldest']} .. {window['newest']}")  # fmt: skip


def render_flows(flows: list[dict[str, Any]]) -> list[str]:
    rows = [["entity", "field", "direction", "start flowing", "stop flowing"]]
    rows += [[f["entity"], f["field"], WAYS[f["way"]], str(f["starts"]), str(f["stops"])] for f in flows]
    return ["per entity and field (recorded changes that would start / stop writing it):",
            *("  " + line for line in _table(rows))]  # fmt: skip


def _outcome(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "-"
    return "synced" if outcome["synced"] else f"withheld ({outcome['reason']})"


def _effect(target: dict[str, Any] | None) -> str:
    if target is None:
        return "-"
    note = target["note"]
    return f"{note['effect'] or 'nothing'} ({note['reason']})"


def render_sample(sample: dict[str, Any]) -> list[str]:
    where = sample["crm_id"] or f"{sample['mailbox']}:{sample['exchange_id']}"
    lines = [f"  {sample['entity']} {where}: {sample['op']} made in {sample['side']} at {sample['occurred_at']}"]
    now = {(t["note"]["target"], t["note"]["mailbox"]): t for t in sample["current"]}
    then = {(t["note"]["target"], t["note"]["mailbox"]): t for t in sample["candidate"]}
    for key in sorted({*now, *then}, key=lambda k: (k[0], k[1] or "")):
        target, mailbox = key
        lines.append(f"    to {target}{' ' + mailbox if mailbox and target == 'exchange' else ''}: "
                     f"now {_effect(now.get(key))}, candidate {_effect(then.get(key))}")  # fmt: skip
        old = {o["field"]: o for o in (now.get(key) or {}).get("outcomes", [])}
        new = {o["field"]: o for o in (then.get(key) or {}).get("outcomes", [])}
        for name in sorted({*old, *new}):
            before, after = _outcome(old.get(name)), _outcome(new.get(name))
            mark = "*" if before != after else " "
            lines.append(f"     {mark} {name}: {before} -> {after}")
    return lines


def render_report(report: dict[str, Any]) -> str:
    lines = [render_window(report)]
    if not report["window"]["entries"]:
        return lines[0]
    total = report["window"]["entries"]
    lines.append(f"{report['differing']} of the {total} would be decided differently.")
    lines += ["", "what explains it:", *(f"  - {e['sentence']}" for e in report["explanations"])]
    if report["flows"]:
        lines += ["", *render_flows(report["flows"])]
    lines += ["", f"items: {report['entering']} would enter a mailbox or CRM (a create not sent now), "
                  f"{report['leaving']} would leave (a delete or unlink not sent now); "
                  f"{report['not_entering']} created now would not be, "
                  f"{report['not_leaving']} removed now would not be"]
    for move in report["moves"][:10]:
        lines.append(f"  {move['entity']} {move['crm_id'] or move['exchange_id']} to {move['target']} "
                     f"{move['mailbox'] or ''}: {move['current'] or 'nothing'} -> {move['candidate'] or 'nothing'}")
    if report["samples"]:
        shown = len(report["samples"])
        lines += ["", f"sample ({shown} of {report['differing']}; * marks a field whose outcome differs):"]
        for sample in report["samples"]:
            lines += render_sample(sample)
    return "\n".join(lines)
