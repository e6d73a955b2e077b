"""The benchmark's arithmetic: match each change made to the DeltaApplied that carried it, then rates and percentiles.

Pure: no I/O, no clock; every time comes from the traffic report or the events.

A change is *matched* when a successful DeltaApplied wrote its value (traffic values are unique labels,
telephone numbers are disambiguated by record). Its end-to-end latency is applied_at minus the time the
source acknowledged the write (the modification was committed by then; the source's own clocks,
modifiedon and LastModifiedTime, keep whole seconds only, so `occurred_at` would add up to 1 s). A change
overwritten at the source before the capture read it is *coalesced*: its effect reached the target with
the later change that carried the same field, so it counts as delivered at that later time, without a
latency of its own. A change that lost a conflict (the same field changed on the other side at the
same time; the applier kept the other value and said so in a `conflict_resolved` DeltaApplied) was
handled correctly without being written: it counts as delivered when that event was published, also
without a latency; so does one *overwritten* by the other side's same-second edit (CRM wins ties, and
the applier reports no conflict then). Anything else is *not applied*.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from infra.sandbox.traffic import TrafficChange
from shared.events import DeltaApplied

SUCCESS = frozenset({"applied", "conflict_resolved"})
Kind = Literal["own", "coalesced", "conflict", "overwritten"]


@dataclass(frozen=True)
class Delivery:
    """One change and the event that delivered it (None: not applied)."""

    change: TrafficChange
    event: DeltaApplied | None
    # own: the event wrote this change's value; coalesced: a later change of the field carried it;
    # conflict / overwritten: the other side's value was kept (see _explained).
    kind: Kind = "own"

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


def _value_key(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _index(events: Iterable[DeltaApplied]) -> dict[str, list[DeltaApplied]]:
    by_value: dict[str, list[DeltaApplied]] = defaultdict(list)
    for event in events:
        if event.result in SUCCESS:
            for value in event.changed.values():
                by_value[_value_key(value)].append(event)
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


def _by_item(events: Iterable[DeltaApplied]) -> tuple[dict[str, list[DeltaApplied]], dict[str, str]]:
    """Every event by the ids of the item it names (CRM id and Exchange id), and Exchange id -> CRM id."""
    by_item: dict[str, list[DeltaApplied]] = defaultdict(list)
    links: dict[str, str] = {}
    for event in events:
        for item in {event.crm_id, event.exchange_id} - {None}:
            by_item[str(item)].append(event)
        if event.crm_id and event.exchange_id:
            links[event.exchange_id] = event.crm_id
    return by_item, links


def _explained(change: TrafficChange, by_item: dict[str, list[DeltaApplied]]) -> Delivery | None:
    """An unmatched change that was handled without its value being written: it lost a conflict the
    applier reported, or the other side's value of the same field was written over it afterwards (a
    same-second edit on both sides: the tie goes to CRM without a conflict being reported)."""
    value = _value_key(change.value)
    for event in by_item.get(change.record_id, []):
        if event.applied_at < change.acked_at:
            continue
        if event.result == "conflict_resolved" and value in (event.error or ""):
            return Delivery(change, event, "conflict")
        if (event.target == change.side and event.result in SUCCESS and change.field in event.changed
                and _value_key(event.changed[change.field]) != value):
            return Delivery(change, event, "overwritten")
    return None


def match(changes: Sequence[TrafficChange], events: Iterable[DeltaApplied]) -> list[Delivery]:
    """One Delivery per change, in the order the changes were made."""
    events = list(events)
    by_value = _index(events)
    by_item, links = _by_item(events)
    direct: list[Delivery] = []
    for change in changes:
        candidates = [e for e in by_value.get(_value_key(change.value), []) if _fits(change, e)]
        direct.append(Delivery(change, candidates[0] if candidates else None))
    # A later delivered change of the same field of the same item, made on either side, accounts for
    # an unmatched earlier one: the capture read the newer value only (last writer wins).
    later: dict[tuple[str, str], DeltaApplied] = {}
    result: list[Delivery] = []
    for delivery in sorted(direct, key=lambda d: d.change.acked_at, reverse=True):
        c = delivery.change
        slot = (links.get(c.record_id, c.record_id), c.field)
        if delivery.event is None and slot in later:
            delivery = Delivery(c, later[slot], "coalesced")
        elif delivery.event is None:
            delivery = _explained(c, by_item) or delivery
        if delivery.event is not None:
            later[slot] = delivery.event
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
    overwritten: int
    not_applied: int
    applied_per_s: float
    deltas_per_s: float
    latency: dict[str, float | None]
    source_clock_latency: dict[str, float | None]
    hops: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # "crm->exchange" / "exchange->crm" -> "end to end" and each hop -> spread.
    directions: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    not_applied_examples: list[str] = field(default_factory=list)


def measure(deliveries: Sequence[Delivery], events: Iterable[DeltaApplied],
            window: tuple[datetime, datetime]) -> Measurement:
    """Throughput: deliveries and successful deltas completed inside `window`, per second. Latency and
    hops: the changes acknowledged inside `window` (warm-up and the drain after the traffic excluded)."""
    start, end = window
    seconds = max((end - start).total_seconds(), 1e-9)
    delivered_at = [d.event.applied_at for d in deliveries if d.event is not None]
    applied_in_window = sum(1 for t in delivered_at if start <= t < end)
    events = list(events)
    deltas_in_window = sum(1 for e in events if e.result in SUCCESS and e.target is not None
                           and start <= e.applied_at < end)
    steady = [d for d in deliveries if start <= d.change.acked_at < end]
    # A change never delivered has no finite latency: it counts as infinitely late, so a percentile
    # that reaches it says so instead of looking better than it is.
    latencies = [d.latency_s for d in steady if d.latency_s is not None]
    latencies += [math.inf for d in steady if d.event is None]
    source_clock = [(d.event.applied_at - d.event.occurred_at).total_seconds()
                    for d in steady if d.event is not None and d.own]
    hop_values: dict[str, list[float]] = defaultdict(list)
    by_direction: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for d in steady:
        direction = by_direction["crm->exchange" if d.change.side == "crm" else "exchange->crm"]
        if d.latency_s is not None:
            direction["end to end"].append(d.latency_s)
        for name, value in (d.hops_s() or {}).items():
            hop_values[name].append(value)
            direction[name].append(value)
    missing = [d for d in deliveries if d.event is None]
    return Measurement(
        window_s=seconds,
        made=len(deliveries),
        in_window=len(steady),
        delivered=sum(1 for d in deliveries if d.event is not None),
        matched=sum(1 for d in deliveries if d.own),
        coalesced=sum(1 for d in deliveries if d.event is not None and d.kind == "coalesced"),
        conflicts=sum(1 for d in deliveries if d.event is not None and d.kind == "conflict"),
        overwritten=sum(1 for d in deliveries if d.event is not None and d.kind == "overwritten"),
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
    )
