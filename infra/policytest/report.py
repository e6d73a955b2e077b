"""The sync-time test's report: each phase's sync times by direction and entity, throughput, errors, a verdict (pure).

A *sample* is one traffic change that reached the other side: its sync time runs from the source's
acknowledgement of the traffic's write to the applier's write there (DeltaApplied.applied_at), matched by the
change's value, which is unique to the run (the traffic generator labels every value). A change that reached no
other side within the phase's drain is *not synced*: under a policy that stops a flow that is what it should do,
so it is counted, never an error. Errors are the traffic's own failures, deltas that failed and dead letters.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import Field

from infra.policytest.explain import Explanation, Flow
from infra.sandbox.traffic import TrafficChange
from infra.sandbox.traffic_shape import TrafficShape
from shared.events import DeltaApplied, Frozen

WRITTEN = frozenset({"applied", "superseded"})  # a superseded delta still wrote its other fields
Outcome = Literal["pass", "fail", "no_data"]


class Sample(Frozen):
    flow: Flow
    entity: str
    sync_s: float


class Latency(Frozen):
    count: int
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float


class LatencyRow(Frozen):
    flow: Flow | Literal["all"]
    entity: str  # "all": every entity of the flow
    latency: Latency


class PhaseReport(Frozen):
    label: Literal["current", "candidate"]
    policy_version: int
    changes_made: int
    changes_synced: int
    not_synced: int
    elapsed_s: float
    throughput_per_s: float = Field(description="Changes synced per second of traffic")
    errors: int
    error_examples: list[str] = Field(default_factory=list)
    overall: Latency | None = None
    rows: list[LatencyRow] = Field(default_factory=list)


class Verdict(Frozen):
    target_p99_s: float
    outcome: Outcome
    text: str


class PolicyTestReport(Frozen):
    rate: float
    duration_s: float
    seed: int
    shape: TrafficShape
    current: PhaseReport
    candidate: PhaseReport
    explanations: list[Explanation]
    verdict: Verdict
    notes: list[str] = Field(default_factory=list)
    ports: list[int] = Field(default_factory=list, description="The isolated stack's ports, all freed at the end")
    data_dir: str = Field(default="", description="The isolated stack's data folder (removed at the end)")


def samples(changes: Iterable[TrafficChange], events: Iterable[DeltaApplied]) -> list[Sample]:
    """One sample per change whose value a successful DeltaApplied wrote to the other side (the earliest one)."""
    by_value = {_key(change.value): change for change in changes}
    first: dict[str, tuple[TrafficChange, datetime]] = {}
    for event in events:
        if event.result not in WRITTEN:
            continue
        for value in event.changed.values():
            change = by_value.get(_key(value))
            if change is None or event.target == change.side:
                continue
            seen = first.get(_key(value))
            if seen is None or event.applied_at < seen[1]:
                first[_key(value)] = (change, event.applied_at)
    return [
        Sample(flow="crm_to_exchange" if change.side == "crm" else "exchange_to_crm", entity=change.entity,
               sync_s=max(0.0, (applied - change.acked_at).total_seconds()))
        for change, applied in first.values()
    ]


def _key(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def latency(values: Sequence[float]) -> Latency | None:
    """Percentiles (inclusive method: p99 of few values is near their maximum, never beyond it)."""
    if not values:
        return None
    ordered = sorted(values)
    cuts = [ordered[0]] * 99 if len(ordered) == 1 else statistics.quantiles(ordered, n=100, method="inclusive")
    return Latency(count=len(ordered), p50_s=round(cuts[49], 3), p95_s=round(cuts[94], 3), p99_s=round(cuts[98], 3),
                   max_s=round(ordered[-1], 3))  # fmt: skip


def rows(found: Sequence[Sample]) -> list[LatencyRow]:
    """Per flow (all entities), then per flow and entity; sorted."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for sample in found:
        groups[(sample.flow, "all")].append(sample.sync_s)
        groups[(sample.flow, sample.entity)].append(sample.sync_s)
    out = []
    def order(item: tuple[tuple[str, str], list[float]]) -> tuple[str, bool, str]:
        return item[0][0], item[0][1] != "all", item[0][1]

    for (flow, entity), values in sorted(groups.items(), key=order):
        measured = latency(values)
        if measured is not None:
            out.append(LatencyRow(flow=flow, entity=entity, latency=measured))
    return out


def phase(label: Literal["current", "candidate"], version: int, made: int, found: Sequence[Sample],
          elapsed_s: float, errors: Sequence[str]) -> PhaseReport:  # fmt: skip
    return PhaseReport(
        label=label, policy_version=version, changes_made=made, changes_synced=len(found),
        not_synced=max(0, made - len(found)), elapsed_s=round(elapsed_s, 2),
        throughput_per_s=round(len(found) / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        errors=len(errors), error_examples=list(errors[:3]),
        overall=latency([s.sync_s for s in found]), rows=rows(found),
    )  # fmt: skip


def verdict(current: PhaseReport, candidate: PhaseReport, target_p99_s: float) -> Verdict:
    """Pass when the candidate's p99 over every synced change is within the target and it made no error."""
    if candidate.overall is None:
        return Verdict(target_p99_s=target_p99_s, outcome="no_data",
                       text="no change synced under the candidate: nothing to measure against the target")  # fmt: skip
    p99 = candidate.overall.p99_s
    before = f" (current: {current.overall.p99_s:.2f}s)" if current.overall is not None else ""
    if candidate.errors:
        return Verdict(target_p99_s=target_p99_s, outcome="fail",
                       text=f"FAIL: {candidate.errors} errors under the candidate; p99 {p99:.2f}s{before}")
    ok = p99 <= target_p99_s
    return Verdict(
        target_p99_s=target_p99_s, outcome="pass" if ok else "fail",
        text=f"{'PASS' if ok else 'FAIL'}: candidate p99 {p99:.2f}s {'within' if ok else 'over'} the target "
             f"{target_p99_s:g}s{before}",
    )  # fmt: skip
