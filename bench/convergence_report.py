"""The convergence benchmark's report: the printed summary and the JSON written under bench/results/."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import Measurement
from bench.report import write_payload


@dataclass
class ConvergenceResult:
    command: str
    options: dict[str, Any]
    changes: int
    two_sided: int  # changes that were one half of a paired edit
    traffic_errors: int
    conflicts: dict[str, int]  # "<rule>: <winner> won" -> count
    echo_conflicts: int  # conflicts over fieldsync's own write taken for an edit (measure.echo_conflicts)
    divergent: int  # fields verify found different on the two sides
    missing: int  # linked pairs whose item or record verify found gone
    lost: int
    duplicates: int
    kills: int
    kills_survived: int
    settled: bool
    measurement: Measurement
    pairs_checked: int = 0
    dead_letters: int = 0
    failed_deltas: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)  # what -> a few instances, for the post-mortem
    kills_by_service: dict[str, int] = field(default_factory=dict)
    kill_log: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)  # how the changes that are not lost ended
    notes: list[str] = field(default_factory=list)
    finished_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    @property
    def converged(self) -> bool:
        return self.divergent == 0 and self.missing == 0 and self.lost == 0 and self.duplicates == 0


def _p99(m: Measurement) -> str:
    p99 = m.latency.get("p99")
    return "-" if p99 is None else ("never" if p99 == float("inf") else f"{p99:.2f}s")


def render(result: ConvergenceResult) -> str:
    r, m = result, result.measurement
    share = 100 * r.two_sided / r.changes if r.changes else 0.0
    conflicts = ", ".join(f"{name} {count}" for name, count in r.conflicts.items()) or "none"
    kills = ", ".join(f"{name} {count}" for name, count in sorted(r.kills_by_service.items()))
    lines = [
        "",
        "fieldsync convergence benchmark",
        f"  command                    {r.command}",
        f"  changes made               {r.changes} ({r.two_sided} two-sided, {share:.0f}%; "
        f"{r.traffic_errors} traffic errors)",
        f"  conflicts recorded         {sum(r.conflicts.values())} ({conflicts}); {r.echo_conflicts} over an "
        "echo (one side's value only the other side made)",
        f"  divergent fields           {r.divergent} (verify, {r.pairs_checked} linked pairs; "
        f"{r.missing} pairs missing a side)   target 0",
        f"  lost changes               {r.lost}   target 0 (the others: "
        + ", ".join(f"{count} {how}" for how, count in r.outcomes.items()) + ")",
        f"  duplicate items            {r.duplicates}   target 0",
        f"  kills survived             {r.kills_survived}/{r.kills} ({kills})",
        f"  throughput                 {m.applied_per_s:.1f} changes/s delivered over the {m.window_s:.0f}s steady "
        f"window; p99 ack->applied {_p99(m)} (bench/pipeline.py's measure)",
        f"  delivered (measure)        {m.delivered}/{m.made} ({m.matched} own write, {m.coalesced} coalesced, "
        f"{m.conflicts} lost a recorded conflict), not applied {m.not_applied}",
        f"  errors                     failed deltas {r.failed_deltas}, dead letters {r.dead_letters}",
        ("CONVERGED" if r.converged else "NOT CONVERGED") + (" (drain settled)" if r.settled else
                                                             " (the drain did not settle before its deadline)"),
    ]
    for what, examples in r.examples.items():
        lines += [f"  {what}: {example}" for example in examples[:5]]
    lines += [f"note: {note}" for note in r.notes]
    return "\n".join(lines)


def write_json(result: ConvergenceResult, folder: Path) -> Path:
    return write_payload("convergence", {**asdict(result), "converged": result.converged}, folder)
