"""The benchmark's arithmetic: match each change made to the DeltaApplied that carried it, then rates and percentiles.

Pure: no I/O, no clock; every time comes from the traffic report, the events or the conflict log.

A change is *matched* when a successful DeltaApplied wrote its value to the other side (traffic values are
unique labels, telephone numbers are disambiguated by record). Its end-to-end latency is applied_at minus the
time the source acknowledged the write (the modification was committed by then; the source's own clocks,
modifiedon and LastModifiedTime, keep whole seconds only, so `occurred_at` would add up to 1 s). A change that
lost a conflict (the merge point found the same field changed on both sides since they last agreed, and
recorded the conflict with this change's value on the losing side) was handled correctly without being
written: it counts as delivered when the conflict was decided, without a latency. A change overwritten at the
source before the capture read it, or made before a later change of the same field that reached the other
side (on either side: sequential edits, last writer wins), is *coalesced*: it counts as delivered with that
later change, without a latency of its own. Anything else is *not applied*: two-sided edits are either a
recorded conflict or sequential, so there is no other excuse.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from infra.sandbox.traffic import TrafficChange
from shared.events import ConflictRecord, DeltaApplied

# A superseded delta still wrote its other fields (DeltaApplied.changed holds what was written).
SUCCESS = frozenset({"applied", "superseded"})
Kind = Literal["own", "coalesced", "conflict"]


@dataclass(frozen=True)
class Delivery:
    """One change and what delivered it: the event that wrote its value (own) or a later change's value
    (coalesced), or the recorded conflict it lost; neither: not applied."""

    change: TrafficChange
    event: DeltaApplied | None
    kind: Kind = "own"
    conflict: ConflictRecord | None = None  # the conflict this change (or the later one it is coalesced into) lost

    @property
    def delivered(self) -> bool:
        return self.event is not None or self.conflict is not None

    @property
    def delivered_at(self) -> datetime | None:
        if self.event is not None:
            return self.event.applied_at
        return self.conflict.decided_at if self.conflict is not None else None

    @property
    def own(self) -> bool:
        return self.event is not None and self.kind == "own"

    @property
    def latency_s(self) -> float | None:
        if self.event is None or not self.own:
            return None
        return (self.event.applied_at - self.change.acked_at).total_seconds()

    def hops_s(self) -> dict[str, float] | None:
        """capture (ack -> captured), decide (captured -> decided), apply (decided -> applied)."""
        if self.event is None or not self.own:
            return None
        e = self.event
        return {
            "capture": (e.captured_at - self.change.acked_at).total_seconds(),
            "decide": (e.decided_at - e.captured_at).total_seconds(),
            "apply": (e.applied_at - e.decided_at).total_seconds(),
        }


def value_key(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _index(events: Iterable[DeltaApplied]) -> dict[str, list[DeltaApplied]]:
    by_value: dict[str, list[DeltaApplied]] = defaultdict(list)
    for event in events:
        if event.result in SUCCESS:
            for value in event.changed.values():
                by_value[value_key(value)].append(event)
    for found in by_value.values():
        found.sort(key=lambda e: e.applied_at)
    return by_value


def _fits(change: TrafficChange, event: DeltaApplied) -> bool:
    """The event went the other way and, when it names the record on the change's side, names this one."""
    if event.target == change.side:
        return False
    if change.side == "crm":
        return event.crm_id in (None, change.record_id)
    return event.exchange_id in (None, change.record_id) or event.mailbox in (None, change.mailbox)


def _links(events: Iterable[DeltaApplied]) -> dict[str, str]:
    """Exchange id -> CRM id, from the events that name both."""
    return {e.exchange_id: e.crm_id for e in events if e.crm_id and e.exchange_id}


def losers(conflicts: Iterable[ConflictRecord]) -> dict[tuple[str, str, str, str], ConflictRecord]:
    """(losing side, its record id, field, losing value) -> the conflict; the record id is the CRM id on the CRM
    side and the Exchange id on the other (a conflict that names none is found by its CRM id)."""
    found: dict[tuple[str, str, str, str], ConflictRecord] = {}
    for conflict in conflicts:
        if conflict.winner == "exchange":
            key = ("crm", conflict.crm_id, conflict.field, value_key(conflict.crm_value))
        else:
            item = conflict.exchange_id or conflict.crm_id
            key = ("exchange", item, conflict.field, value_key(conflict.exchange_value))
        found.setdefault(key, conflict)
    return found


def lost_to(change: TrafficChange, by_loser: dict[tuple[str, str, str, str], ConflictRecord],
            links: dict[str, str]) -> ConflictRecord | None:
    """The recorded conflict that names this change's value as the losing one."""
    value = value_key(change.value)
    found = by_loser.get((change.side, change.record_id, change.field, value))
    if found is None and change.side == "exchange" and change.record_id in links:
        found = by_loser.get((change.side, links[change.record_id], change.field, value))
    return found


def echo_conflicts(changes: Iterable[TrafficChange], conflicts: Iterable[ConflictRecord]) -> list[ConflictRecord]:
    """The conflicts that name as one side's value a value only the other side made: fieldsync's own write of
    that value, captured as if someone had made it (an echo not recognised), then decided as a conflict."""
    made: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for change in changes:
        made[change.side].add((change.field, value_key(change.value)))

    def foreign(side: str, other: str, field: str, value: Any) -> bool:
        key = (field, value_key(value))
        return key in made[other] and key not in made[side]

    return [c for c in conflicts if foreign("crm", "exchange", c.field, c.crm_value)
            or foreign("exchange", "crm", c.field, c.exchange_value)]


def match(changes: Sequence[TrafficChange], events: Iterable[DeltaApplied],
          conflicts: Iterable[ConflictRecord] = ()) -> list[Delivery]:
    """One Delivery per change, in the order the changes were made (see the module docstring)."""
    events = list(events)
    by_value = _index(events)
    links = _links(events)
    found_losers = losers(conflicts)
    direct: list[Delivery] = []
    for change in changes:
        candidates = [e for e in by_value.get(value_key(change.value), []) if _fits(change, e)]
        direct.append(Delivery(change, candidates[0] if candidates else None))
    # A later delivered change of the same field of the same item, made on either side, accounts for
    # an unmatched earlier one: the capture read the newer value only, or it came after (last writer wins).
    later: dict[tuple[str, str], Delivery] = {}
    result: list[Delivery] = []
    for delivery in sorted(direct, key=lambda d: d.change.acked_at, reverse=True):
        c = delivery.change
        slot = (links.get(c.record_id, c.record_id), c.field)
        if delivery.event is None:
            lost = lost_to(c, found_losers, links)
            if lost is not None:
                delivery = Delivery(c, None, "conflict", lost)
            elif slot in later:
                delivery = Delivery(c, later[slot].event, "coalesced", later[slot].conflict)
        if delivery.delivered:
            later[slot] = delivery
        result.append(delivery)
    order = {id(c): i for i, c in enumerate(changes)}
    return sorted(result, key=lambda d: order[id(d.change)])


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def spread(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "max": max(values) if values else None, "n": float(len(values))}


@dataclass
class Measurement:
    """What one run measured over its steady-state window (changes acknowledged within it)."""

    window_s: float
    made: int
    in_window: int
    delivered: int
    matched: int
    coalesced: int
    conflicts: int
    not_applied: int
    applied_per_s: float
    deltas_per_s: float
    latency: dict[str, float | None]
    source_clock_latency: dict[str, float | None]
    hops: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # "crm->exchange" / "exchange->crm" -> "end to end" and each hop -> spread.
    directions: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    not_applied_examples: list[str] = field(default_factory=list)
    # Entity (as the delivering DeltaApplied names it: a phone call's Exchange task is a phone call) -> its
    # end-to-end latency spread, both directions together.
    entities: dict[str, dict[str, float | None]] = field(default_factory=dict)


def measure(deliveries: Sequence[Delivery], events: Iterable[DeltaApplied],
            window: tuple[datetime, datetime]) -> Measurement:
    """Throughput: deliveries and successful deltas completed inside `window`, per second. Latency and
    hops: the changes acknowledged inside `window` (warm-up and the drain after the traffic excluded)."""
    start, end = window
    seconds = max((end - start).total_seconds(), 1e-9)
    delivered_at = [d.delivered_at for d in deliveries if d.delivered_at is not None]
    applied_in_window = sum(1 for t in delivered_at if start <= t < end)
    events = list(events)
    deltas_in_window = sum(1 for e in events if e.result in SUCCESS and e.target is not None
                           and start <= e.applied_at < end)
    steady = [d for d in deliveries if start <= d.change.acked_at < end]
    # A change never delivered has no finite latency: it counts as infinitely late, so a percentile
    # that reaches it says so instead of looking better than it is.
    latencies = [d.latency_s for d in steady if d.latency_s is not None]
    latencies += [math.inf for d in steady if not d.delivered]
    source_clock = [(d.event.applied_at - d.event.occurred_at).total_seconds()
                    for d in steady if d.event is not None and d.own]
    hop_values: dict[str, list[float]] = defaultdict(list)
    by_direction: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_entity: dict[str, list[float]] = defaultdict(list)
    for d in steady:
        direction = by_direction["crm->exchange" if d.change.side == "crm" else "exchange->crm"]
        entity = d.event.entity if d.event is not None else d.change.entity
        if d.latency_s is not None:
            direction["end to end"].append(d.latency_s)
            by_entity[entity].append(d.latency_s)
        elif not d.delivered:
            by_entity[entity].append(math.inf)
        for name, value in (d.hops_s() or {}).items():
            hop_values[name].append(value)
            direction[name].append(value)
    missing = [d for d in deliveries if not d.delivered]
    return Measurement(
        window_s=seconds,
        made=len(deliveries),
        in_window=len(steady),
        delivered=sum(1 for d in deliveries if d.delivered),
        matched=sum(1 for d in deliveries if d.own),
        coalesced=sum(1 for d in deliveries if d.delivered and d.kind == "coalesced"),
        conflicts=sum(1 for d in deliveries if d.kind == "conflict"),
        not_applied=len(missing),
        applied_per_s=applied_in_window / seconds,
        deltas_per_s=deltas_in_window / seconds,
        latency=spread(latencies),
        source_clock_latency=spread(source_clock),
        hops={name: spread(values) for name, values in hop_values.items()},
        directions={way: {name: spread(values) for name, values in parts.items()}
                    for way, parts in sorted(by_direction.items())},
        not_applied_examples=[f"{d.change.side} {d.change.entity} {d.change.record_id} {d.change.field}"
                              for d in missing[:5]],
        entities={entity: spread(values) for entity, values in sorted(by_entity.items())},
    )
