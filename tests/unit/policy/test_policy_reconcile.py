"""reconcile(): a decision's writes passed through the merge point, one row per branch of its table."""

from __future__ import annotations

from datetime import timedelta

from services.policy.decide import decide
from services.policy.merge import FieldState
from services.policy.plan import plan
from services.policy.reconcile import conflict_records, pairs_of, reconcile
from services.policy.verdict import Decision, Facts
from shared.events import ItemChanged, ItemDelta, SyncDecision
from shared.links import counterpart_id
from tests.policy_builders import ALICE, CATALOGUE, NOW, TRACKED, crm, exchange, linked, policy

EARLIER = NOW - timedelta(seconds=5)
PAIR = ("contact", "r1", ALICE)


def decided(change: ItemChanged, facts: Facts) -> Decision:
    return decide(change, CATALOGUE.entity(change.entity), policy(), facts, NOW)


def agreed(value: str, side: str = "crm") -> FieldState:
    return FieldState(value, EARLIER, side, {"crm": value, "exchange": value})  # type: ignore[arg-type]


def test_a_linked_update_is_guarded_by_what_the_target_holds() -> None:
    change = crm("contact", "update", {"jobtitle": "B"}, owner_mailbox=ALICE).model_copy(
        update={"previous": {"jobtitle": "A"}}
    )
    decision = decided(change, linked(ALICE))
    assert pairs_of(change, decision) == [PAIR]
    result = reconcile(change, decision, {PAIR: {"jobtitle": agreed("A")}}, "latest")
    [write] = result.decision.writes
    assert (write.target, write.fields, write.expected) == ("exchange", {"jobtitle": "B"}, {"jobtitle": "A"})
    assert result.updates[PAIR]["jobtitle"].agreed == "B" and not result.conflicts  # type: ignore[index]


def test_a_lost_conflict_writes_the_winner_back_and_says_why() -> None:
    """The mailbox changed A -> X while CRM's change A -> C (agreed) was on its way; crm_wins."""
    change = exchange("contact", "update", {"jobtitle": "X"}).model_copy(update={"previous": {"jobtitle": "A"}})
    decision = decided(change, linked(ALICE))
    result = reconcile(change, decision, {PAIR: {"jobtitle": agreed("C")}}, "crm_wins")
    assert [(t.target, t.mailbox, t.op, dict(t.fields), dict(t.expected)) for t in result.decision.targets] == [
        ("crm", ALICE, None, {}, {}),
        ("exchange", ALICE, "update", {"jobtitle": "C"}, {"jobtitle": "X"}),
    ]
    assert result.decision.targets[0].note == "conflict_lost"
    reasons = {o.field: o.reason for o in result.decision.outcomes if o.field == "jobtitle"}
    assert reasons == {"jobtitle": "conflict"}
    [record] = conflict_records(change, result, "crm_wins", 7, NOW)
    assert (record.field, record.crm_value, record.exchange_value, record.winner, record.rule) == (
        "jobtitle", "C", "X", "crm", "crm_wins"
    )
    assert record.crm_modified_at == EARLIER and record.exchange_modified_at == NOW
    assert conflict_records(change, result, "crm_wins", 7, NOW) == [record]  # deterministic: a replay is one
    # the write-back is keyed like the pair's other Exchange deltas and names the linked item
    events = plan(change, result.decision, 7, NOW)
    back = next(o.event for o in events if isinstance(o.event, ItemDelta))
    assert (back.target, back.exchange_id, back.changed, back.expected) == (
        "exchange", "x1", {"jobtitle": "C"}, {"jobtitle": "X"}
    )
    notes = next(o.event for o in events if isinstance(o.event, SyncDecision)).notes
    assert [n.reason for n in notes] == ["conflict_lost", "conflict_writeback"]


def test_a_crm_change_that_lost_is_written_back_to_crm_naming_the_mailbox() -> None:
    change = crm("contact", "update", {"jobtitle": "C"}, owner_mailbox=ALICE).model_copy(
        update={"previous": {"jobtitle": "A"}, "occurred_at": EARLIER - timedelta(seconds=1)}
    )
    result = reconcile(change, decided(change, linked(ALICE)), {PAIR: {"jobtitle": agreed("X", "exchange")}}, "latest")
    [back] = [t for t in result.decision.writes if t.target == "crm"]
    assert (back.mailbox, back.fields, back.expected) == (ALICE, {"jobtitle": "X"}, {"jobtitle": "C"})
    delta = next(o.event for o in plan(change, result.decision, 7, NOW) if isinstance(o.event, ItemDelta))
    assert (delta.target, delta.mailbox, delta.exchange_id) == ("crm", ALICE, f"x-{ALICE}")


def test_an_echo_attributed_to_anyone_is_settled_by_value() -> None:
    change = exchange("contact", "update", {"jobtitle": "C"}).model_copy(update={"previous": {"jobtitle": "A"}})
    result = reconcile(change, decided(change, linked(ALICE)), {PAIR: {"jobtitle": agreed("C")}}, "latest")
    assert not result.decision.writes and result.decision.targets[0].note == "already_agreed"
    assert {o.field: o.reason for o in result.decision.outcomes}["jobtitle"] == "unchanged"


def test_a_create_starts_the_pair_afresh_and_a_tracked_outlook_item_pairs_with_its_counterpart() -> None:
    change = crm("contact", "create", {"jobtitle": "A", "nickname": "N"}, owner_mailbox=ALICE)
    result = reconcile(change, decided(change, Facts()), {PAIR: {"old": agreed("z")}}, "latest")
    assert result.fresh == {PAIR} and set(result.updates[PAIR] or {}) >= {"jobtitle", "nickname"}
    task = exchange("task", "create", {"subject": "s"}, crm_id=None, **TRACKED)
    result = reconcile(task, decided(task, Facts()), {}, "latest")
    assert result.fresh == {("task", counterpart_id(ALICE, "x1"), ALICE)}


def test_a_delete_ends_the_pair() -> None:
    change = exchange("contact", "delete", owner_mailbox=ALICE)
    result = reconcile(change, decided(change, linked(ALICE)), {PAIR: {"jobtitle": agreed("A")}}, "latest")
    assert result.updates == {PAIR: None}


def test_a_change_that_does_not_flow_is_remembered_for_the_next_guard() -> None:
    change = exchange("contact", "update", {"jobtitle": "X"}).model_copy(update={"previous": {"jobtitle": "A"}})
    one_way = decide(change, CATALOGUE.entity("contact"), policy(contact__jobtitle="to_exchange"), linked(ALICE), NOW)
    result = reconcile(change, one_way, {PAIR: {"jobtitle": agreed("A")}}, "latest")
    assert not result.decision.writes and not result.conflicts
    assert result.updates[PAIR]["jobtitle"].held["exchange"] == "X"  # type: ignore[index]
