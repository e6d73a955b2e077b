"""The benchmark's report: the printed table and the JSON written under bench/results/."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import Measurement

# The first target on a 2-core machine with everything running, at a 1 s poll interval.
TARGET_RATE = 200.0
TARGET_P99_S = 2.5
# "Sustained": the applied rate over the steady window reaches this share of the target rate.
SUSTAINED_SHARE = 0.98


@dataclass
class Result:
    command: str
    options: dict[str, Any]
    offered_rate: float
    source_rate: float
    traffic_errors: int
    failed_deltas: int
    dead_letters: int
    measurement: Measurement
    memory_mib: dict[str, float]
    # CPU seconds each service used while the traffic ran, and how long that was.
    cpu_s: dict[str, float] = field(default_factory=dict)
    traffic_s: float = 0.0
    idle_cpu_share: dict[str, float] = field(default_factory=dict)  # CPU share with no traffic (1.0 = a core)
    notes: list[str] = field(default_factory=list)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    traffic_error_examples: list[str] = field(default_factory=list)
    echo_conflicts: int = 0  # recorded conflicts over fieldsync's own write taken for an edit (measure.echo_conflicts)
    finished_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def target_checks(self) -> dict[str, bool]:
        m = self.measurement
        p99 = m.latency["p99"]
        return {
            f"offered >= {TARGET_RATE:g}/s": self.offered_rate >= TARGET_RATE,
            f"applied >= {SUSTAINED_SHARE * TARGET_RATE:g}/s": m.applied_per_s >= SUSTAINED_SHARE * TARGET_RATE,
            f"p99 < {TARGET_P99_S:g}s": p99 is not None and p99 < TARGET_P99_S,
            "every change applied": m.not_applied == 0,
            "poll interval 1s": self.options.get("poll_interval") == 1.0,
        }

    @property
    def target_met(self) -> bool:
        return all(self.target_checks().values())


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return " never " if math.isinf(value) else f"{value:6.3f}s"


def _row(label: str, spread: dict[str, float | None]) -> str:
    return (f"  {label:<26} p50 {_s(spread.get('p50'))}  p95 {_s(spread.get('p95'))}  "
            f"p99 {_s(spread.get('p99'))}  max {_s(spread.get('max'))}  (n={int(spread.get('n') or 0)})")


def render(result: Result) -> str:
    m = result.measurement
    lines = [
        "",
        "fieldsync pipeline benchmark",
        f"  command                    {result.command}",
        f"  offered rate               {result.offered_rate:.1f} changes/s",
        f"  achieved source rate       {result.source_rate:.1f} changes/s ({m.made} made, "
        f"{result.traffic_errors} traffic errors)",
        f"  applied, sustained         {m.applied_per_s:.1f} changes/s over a {m.window_s:.0f}s steady window "
        f"({m.deltas_per_s:.1f} DeltaApplied/s)",
        f"  delivered                  {m.delivered}/{m.made} ({m.matched} own write, {m.coalesced} coalesced "
        f"into a later change of the field, {m.conflicts} lost a recorded conflict), not applied {m.not_applied}; "
        f"{result.echo_conflicts} recorded conflicts over an echo",
        "latency (changes acknowledged in the steady window; 'never' = not applied by the end of the drain)",
        _row("end to end (ack->applied)", m.latency),
        _row("source clock (occurred->)", m.source_clock_latency),
    ]
    for hop in ("capture", "decide", "apply"):
        if hop in m.hops:
            lines.append(_row(f"  hop {hop}", m.hops[hop]))
    for way, parts in m.directions.items():
        lines.append(f"  {way}")
        lines += [_row(f"  {name}", parts[name]) for name in ("end to end", "capture", "decide", "apply")
                  if name in parts]
    if m.entities:
        lines.append("  by entity (end to end, both directions)")
        lines += [_row(f"    {entity}", spread) for entity, spread in m.entities.items()]
    lines += [
        "errors",
        f"  traffic errors {result.traffic_errors}, failed deltas {result.failed_deltas}, "
        f"dead letters {result.dead_letters}",
    ]
    lines += [f"    {count} x {reason}" for reason, count in sorted(result.dead_letter_reasons.items())[:5]]
    lines += [f"    {example}" for example in result.traffic_error_examples[:3]]
    lines += [f"    not applied: {example}" for example in m.not_applied_examples]
    lines.append(f"peak memory (VmHWM, MiB); CPU while the traffic ran ({result.traffic_s:.0f}s) and idle "
                 "(100% = one core)")
    for name, mib in result.memory_mib.items():
        cpu, idle = result.cpu_s.get(name), result.idle_cpu_share.get(name)
        busy = f"{cpu:7.1f}s cpu {100 * cpu / result.traffic_s:5.1f}%" if cpu is not None and result.traffic_s else ""
        rest = f"  idle {100 * idle:5.1f}%" if idle is not None else ""
        lines.append(f"  {name:<26} {mib:8.1f}  {busy}{rest}")
    lines.append(f"first target ({TARGET_RATE:g}/s sustained, p99 < {TARGET_P99_S:g}s, 1s poll): "
                 + ("MET" if result.target_met else "NOT MET"))
    lines += [f"  [{'x' if ok else ' '}] {check}" for check, ok in result.target_checks().items()]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def write_json(result: Result, folder: Path) -> Path:
    payload = {**asdict(result), "target_checks": result.target_checks(), "target_met": result.target_met}
    return write_payload("pipeline", payload, folder)


def write_payload(name: str, payload: dict[str, Any], folder: Path) -> Path:
    """`payload` as `<name>-<UTC time>.json` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{name}-{stamp}.json"
    path.write_text(json.dumps(_finite(payload), indent=2, default=str) + "\n")
    return path


def _finite(value: Any) -> Any:
    """JSON has no infinity: a change never applied is written as the string "never"."""
    if isinstance(value, float) and math.isinf(value):
        return "never"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
