"""The benchmark's matching of changes to DeltaApplied events: own writes, coalescing, conflicts, losses."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.measure import match, measure, percentile
from infra.sandbox.traffic import TrafficChange
from shared.events import DeltaApplied, Source

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(side: str, record: str, field: str, value: str, acked: float, mailbox: str | None = None) -> TrafficChange:
    return TrafficChange(side, "contact", record, mailbox, field, value, at(acked - 0.05), at(acked), at(acked))


def applied(target: str, changed: dict[str, Any], when: float, crm_id: str = "c1", exchange_id: str = "x1",
            result: str = "applied", error: str | None = None) -> DeltaApplied:
    return DeltaApplied(
        event_id=f"e-{when}-{target}", occurred_at=at(when - 1), captured_at=at(when - 0.5),
        source=Source(system="crm" if target == "exchange" else "exchange"), entity="contact", op="update",
        crm_id=crm_id, mailbox="alice@sandbox.local", exchange_id=exchange_id, changed=changed,
        target=target, result=result, decided_at=at(when - 0.2), applied_at=at(when), error=error,
    )


def test_own_write_has_latency_from_ack_and_hops():
    made = [change("crm", "c1", "jobtitle", "jobtitle r-1", 1.0)]
    [delivery] = match(made, [applied("exchange", {"jobtitle": "jobtitle r-1"}, 2.5)])
    assert delivery.kind == "own"
    assert delivery.latency_s == 1.5
    assert delivery.hops_s() == {"capture": 1.0, "decide": 0.3, "apply": 0.2}


def test_value_written_the_same_way_does_not_count():
    made = [change("crm", "c1", "jobtitle", "jobtitle r-1", 1.0)]
    [delivery] = match(made, [applied("crm", {"jobtitle": "jobtitle r-1"}, 2.5)])
    assert delivery.event is None


def test_earlier_change_carried_by_a_later_one_of_the_same_field_is_coalesced():
    made = [change("crm", "c1", "jobtitle", "a", 1.0), change("crm", "c1", "jobtitle", "b", 1.2)]
    first, second = match(made, [applied("exchange", {"jobtitle": "b"}, 2.0)])
    assert (first.kind, second.kind) == ("coalesced", "own")
    assert first.latency_s is None


def test_later_edit_on_the_other_side_of_a_linked_item_supersedes():
    made = [change("crm", "c1", "nickname", "a", 1.0), change("exchange", "x1", "nickname", "b", 1.5)]
    events = [applied("crm", {"nickname": "b"}, 2.0), applied("exchange", {"jobtitle": "z"}, 0.5)]
    first, second = match(made, events)
    assert (first.kind, second.kind) == ("coalesced", "own")


def test_reported_conflict_and_same_second_overwrite_are_handled():
    made = [change("exchange", "x1", "nickname", "lost", 1.0), change("exchange", "x1", "department", "old", 1.0)]
    events = [
        applied("crm", {}, 2.0, result="conflict_resolved", error="kept CRM values: {'nickname': 'lost'}"),
        applied("exchange", {"department": "from crm"}, 2.1),
    ]
    first, second = match(made, events)
    assert (first.kind, second.kind) == ("conflict", "overwritten")


def test_undelivered_change_counts_as_infinitely_late():
    made = [change("crm", "c1", "jobtitle", "a", 1.0), change("crm", "c2", "jobtitle", "b", 1.0)]
    events = [applied("exchange", {"jobtitle": "a"}, 1.5)]
    result = measure(match(made, events), events, (at(0), at(10)))
    assert result.not_applied == 1
    assert result.latency["p99"] == math.inf
    assert result.applied_per_s == 0.1


def test_nearest_rank_percentile():
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(v) for v in range(1, 101)], 99) == 99.0
