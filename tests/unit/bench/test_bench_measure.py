"""The benchmark's matching of changes to DeltaApplied events and recorded conflicts: own writes, coalescing,
conflicts lost, and everything else not applied (there is no "overwritten" any more)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.measure import Delivery, echo_conflicts, match, measure, percentile
from infra.sandbox.traffic import TrafficChange
from shared.events import ConflictRecord, DeltaApplied, Source, System

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


def conflict(winner: System, crm_value: str, exchange_value: str, when: float, field: str = "nickname",
             exchange_id: str | None = "x1") -> ConflictRecord:
    return ConflictRecord(
        conflict_id=f"k-{when}", decided_at=at(when), entity="contact", crm_id="c1", mailbox="alice@sandbox.local",
        exchange_id=exchange_id, field=field, crm_value=crm_value, exchange_value=exchange_value,
        crm_modified_at=at(when - 1), exchange_modified_at=at(when - 1), rule="latest", winner=winner,
        policy_version=2, causation_id=f"change-{when}",
    )


LINKED = applied("exchange", {"jobtitle": "linked"}, 0.5)  # names c1 and x1 together: the pair's link
CRM_EDIT = change("crm", "c1", "nickname", "from crm", 1.0)
EXCHANGE_EDIT = change("exchange", "x1", "nickname", "from exchange", 1.2, "alice@sandbox.local")

# (case, changes, events, conflicts, the kind of each change: None = not applied)
TWO_SIDED = [
    ("the CRM value won: the Exchange edit lost a recorded conflict and the CRM value reached the mailbox",
     [CRM_EDIT, EXCHANGE_EDIT], [LINKED, applied("exchange", {"nickname": "from crm"}, 2.5)],
     [conflict("crm", "from crm", "from exchange", 2.4)], ["own", "conflict"]),
    ("the Exchange value won: the CRM edit lost, its forward write was superseded",
     [CRM_EDIT, EXCHANGE_EDIT],
     [LINKED, applied("exchange", {}, 2.0, result="superseded"), applied("crm", {"nickname": "from exchange"}, 2.6)],
     [conflict("exchange", "from crm", "from exchange", 2.4)], ["conflict", "own"]),
    ("a conflict that names no mailbox item is found through the pair's CRM id",
     [CRM_EDIT, EXCHANGE_EDIT], [LINKED, applied("exchange", {"nickname": "from crm"}, 2.5)],
     [conflict("crm", "from crm", "from exchange", 2.4, exchange_id=None)], ["own", "conflict"]),
    ("no conflict recorded and the other side's earlier value written over the edit: not applied",
     [CRM_EDIT, EXCHANGE_EDIT], [LINKED, applied("exchange", {"nickname": "from crm"}, 2.5)],
     [], ["own", None]),
    ("a conflict names the edit's value as the winner, not the loser: no excuse",
     [CRM_EDIT, EXCHANGE_EDIT], [LINKED, applied("exchange", {"nickname": "from crm"}, 2.5)],
     [conflict("exchange", "from crm", "from exchange", 2.4)], ["own", None]),
    ("a conflict of another field does not excuse this one",
     [CRM_EDIT, EXCHANGE_EDIT], [LINKED, applied("exchange", {"nickname": "from crm"}, 2.5)],
     [conflict("crm", "from crm", "from exchange", 2.4, field="jobtitle")], ["own", None]),
    ("sequential: the Exchange edit made after the CRM one coalesces it, no conflict needed",
     [CRM_EDIT, EXCHANGE_EDIT], [LINKED, applied("crm", {"nickname": "from exchange"}, 2.6)], [],
     ["coalesced", "own"]),
    ("an earlier edit coalesced into a later one that lost a conflict is accounted for by that conflict",
     [change("crm", "c1", "nickname", "first", 0.8), CRM_EDIT, EXCHANGE_EDIT],
     [LINKED, applied("crm", {"nickname": "from exchange"}, 2.6)],
     [conflict("exchange", "from crm", "from exchange", 2.4)], ["coalesced", "conflict", "own"]),
    ("fields a superseded delta did write count as written",
     [change("crm", "c1", "jobtitle", "title", 1.0)],
     [applied("exchange", {"jobtitle": "title"}, 2.0, result="superseded")], [], ["own"]),
]


@pytest.mark.parametrize(("case", "changes", "events", "conflicts", "kinds"), TWO_SIDED, ids=[r[0] for r in TWO_SIDED])
def test_two_sided_edits_are_a_recorded_conflict_or_sequential(
    case: str, changes: list[TrafficChange], events: list[DeltaApplied], conflicts: list[ConflictRecord],
    kinds: list[str | None],
) -> None:
    deliveries = match(changes, events, conflicts)
    assert [d.kind if d.delivered else None for d in deliveries] == kinds, case


def test_a_lost_conflict_is_delivered_when_decided_without_a_latency() -> None:
    [lost] = [d for d in match([CRM_EDIT, EXCHANGE_EDIT], [LINKED], [conflict("crm", "from crm", "from exchange",
                                                                              2.4)]) if d.kind == "conflict"]
    assert lost.delivered_at == at(2.4) and lost.latency_s is None and lost.hops_s() is None
    result = measure([lost, Delivery(CRM_EDIT, None)], [LINKED], (at(0), at(10)))
    assert (result.conflicts, result.not_applied, result.delivered) == (1, 1, 1)


def test_a_conflict_naming_a_value_only_the_other_side_made_is_over_an_echo() -> None:
    made = [CRM_EDIT, change("crm", "c1", "nickname", "older", 0.5), EXCHANGE_EDIT]
    real = conflict("crm", "from crm", "from exchange", 2.4)
    echo = conflict("exchange", "from crm", "older", 2.6)  # "older" reached the mailbox from CRM: never made there
    seeded = conflict("crm", "from crm", "seed value", 2.7)  # neither side's traffic made it: cannot tell
    assert echo_conflicts(made, [real, echo, seeded]) == [echo]


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


def test_latency_per_entity_follows_the_delivering_event():
    """An Exchange task changed in Outlook is whatever the DeltaApplied says (a phone call's task is a phone call);
    a change never delivered counts under the entity its change names, infinitely late."""
    made = [change("crm", "c1", "jobtitle", "a", 1.0), change("exchange", "x2", "subject", "b", 1.0),
            change("crm", "c3", "subject", "lost", 1.0)]
    call = applied("crm", {"subject": "b"}, 3.0, crm_id="p2", exchange_id="x2")
    call = call.model_copy(update={"entity": "phonecall"})
    deliveries = match(made, [applied("exchange", {"jobtitle": "a"}, 2.0), call])
    result = measure(deliveries, [], (at(0), at(10)))
    assert result.entities["contact"]["p50"] == 1.0 and result.entities["contact"]["p99"] == math.inf  # c3: never
    assert result.entities["contact"]["n"] == 2 and result.entities["phonecall"]["p50"] == 2.0
