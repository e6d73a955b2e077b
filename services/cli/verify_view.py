"""How `fieldsync verify` shows a report: tables of differences, missing items and one-way fields (pure)."""

from __future__ import annotations

import json
from typing import Any

MAX_VALUE = 48  # characters of a value shown in a table cell; --json has them whole
PAIR = ["entity", "crm_id", "mailbox", "exchange_id"]


def cell(value: Any) -> str:
    """A value as compact JSON (strings unquoted), cut to MAX_VALUE characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def progress(job: dict[str, Any]) -> str:
    done, total = job["progress"]["checked"], job["progress"]["total"]
    return "verify: listing links..." if total is None else f"verify: {done} of {total} pairs checked"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(report: dict[str, Any]) -> str:
    checked = _plural(report["pairs_checked"], "pair")
    if report["consistent"]:
        return f"consistent: {checked} checked (policy version {report['policy_version']})"
    parts = [_plural(len(report["differences"]), "difference"), _plural(len(report["missing"]), "missing item")]
    return f"inconsistent: {', '.join(parts)} in {checked} checked (policy version {report['policy_version']})"


def render(report: dict[str, Any]) -> str:
    """Differences and missing items (the failures), then the informational one-way differences, then a summary."""
    lines: list[str] = []
    if report["differences"]:
        rows = [[*(d[k] for k in PAIR), d["field"], cell(d["crm_value"]), cell(d["exchange_value"])]
                for d in report["differences"]]
        lines += [f"differences ({len(rows)}): fields that flow both ways and differ",
                  *table([*PAIR, "field", "CRM", "Exchange"], rows), ""]
    if report["missing"]:
        rows = [[*(m[k] for k in PAIR), m["missing_on"]] for m in report["missing"]]
        lines += [f"missing ({len(rows)}): linked items that no longer exist on one side",
                  *table([*PAIR, "missing on"], rows), ""]
    if report["one_way_differences"]:
        rows = [[*(d[k] for k in PAIR), d["field"], d["direction"], cell(d["crm_value"]), cell(d["exchange_value"])]
                for d in report["one_way_differences"]]
        lines += [f"one-way fields edited on the non-source side ({len(rows)}, informational: not synced by policy)",
                  *table([*PAIR, "field", "direction", "CRM", "Exchange"], rows), ""]
    if report["untracked"]:
        lines.append(f"{_plural(report['untracked'], 'untracked item')} not compared (nothing syncs either way)")
    lines.append(summary(report))
    return "\n".join(lines)
