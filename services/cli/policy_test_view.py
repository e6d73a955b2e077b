"""How `fieldsync policy test` shows its run and its report: the progress bar, the side-by-side table (pure).

Works on the report as JSON (infra.policytest.report.PolicyTestReport dumped, or the admin API job's report),
so the CLI and any client of the job render it the same way.
"""

from __future__ import annotations

from typing import Any

FLOWS = {"crm_to_exchange": "CRM -> Exchange", "exchange_to_crm": "Exchange -> CRM", "all": "all"}
BAR_WIDTH = 30


def bar(share: float, stage: str, width: int = BAR_WIDTH) -> str:
    """`[#########.....................]  30% stage` (share clamped to 0..1)."""
    share = min(1.0, max(0.0, share))
    done = round(share * width)
    return f"[{'#' * done}{'.' * (width - done)}] {share * 100:3.0f}% {stage}"


def _latency(value: dict[str, Any] | None) -> str:
    if not value:
        return "-"
    return f"{value['p50_s']:.2f} / {value['p95_s']:.2f} / {value['p99_s']:.2f}s (n={value['count']})"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def shape_line(shape: dict[str, Any]) -> str:
    """Where the traffic's shape came from and its mix per entity and side."""
    rows = shape.get("rows", [])
    total = sum(row["changes"] for row in rows) or 1
    crm = sum(row["changes"] for row in rows if row["side"] == "crm") / total
    entities: dict[str, dict[str, int]] = {}
    for row in rows:
        entities.setdefault(row["entity"], {})[row["side"]] = row["changes"]
    mix = ", ".join(
        f"{entity} {sum(sides.values()) / total:.0%}" for entity, sides in
        sorted(entities.items(), key=lambda item: -sum(item[1].values()))
    )  # fmt: skip
    where = (f"the running stack's change window ({total} recent changes)" if shape.get("source") == "window"
             else "the default shape (the change window was empty)")  # fmt: skip
    return f"traffic shaped like {where}: CRM {crm:.0%} / Exchange {1 - crm:.0%}; {mix}"


def _rows_by_key(phase: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["flow"], row["entity"]): row["latency"] for row in phase.get("rows", [])}


def render(report: dict[str, Any]) -> str:
    current, candidate = report["current"], report["candidate"]
    lines = [
        f"sync-time test: {report['rate']:g} changes/s for {report['duration_s']:g}s per policy, "
        f"seed {report['seed']}, on an isolated stack",
        shape_line(report["shape"]),
        "",
    ]
    head = ["", f"current (v{current['policy_version']})", f"candidate (v{candidate['policy_version']})"]
    rows = [head]
    rows.append(["changes made / synced", f"{current['changes_made']} / {current['changes_synced']}",
                 f"{candidate['changes_made']} / {candidate['changes_synced']}"])  # fmt: skip
    rows.append(["throughput", f"{current['throughput_per_s']:g}/s", f"{candidate['throughput_per_s']:g}/s"])
    rows.append(["errors", str(current["errors"]), str(candidate["errors"])])
    rows.append(["sync time p50 / p95 / p99", _latency(current.get("overall")), _latency(candidate.get("overall"))])
    before, after = _rows_by_key(current), _rows_by_key(candidate)
    for flow, entity in sorted(set(before) | set(after), key=lambda key: (key[0], key[1] != "all", key[1])):
        label = f"  {FLOWS[flow]}" if entity == "all" else f"    {entity}"
        rows.append([label, _latency(before.get((flow, entity))), _latency(after.get((flow, entity)))])
    lines += _table(rows)
    lines += ["", "what in the candidate explains a difference:"]
    lines += [f"  - {item['text']}" for item in report["explanations"]] or ["  (nothing: it is the current policy)"]
    examples = current.get("error_examples", []) + candidate.get("error_examples", [])
    if examples:
        lines += ["", "errors, for example:", *(f"  {example}" for example in examples[:3])]
    if report.get("notes"):
        lines += ["", "notes:", *(f"  {note}" for note in report["notes"])]
    lines += ["", f"verdict: {report['verdict']['text']}"]
    return "\n".join(lines)
