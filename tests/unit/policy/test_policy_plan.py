"""plan(): deltas per write with the contract's keys and copied timings, one decision per change, stable ids."""

from __future__ import annotations

from datetime import timedelta

from services.policy.decide import decide
from services.policy.plan import plan
from shared import topics
from shared.events import ItemDelta, SyncDecision
from tests.policy_builders import ALICE, BOB, CATALOGUE, NOW, TRACKED, crm, every_field, exchange, linked, policy

LATER = NOW + timedelta(seconds=1)


def planned(change, facts=None, version=7):  # type: ignore[no-untyped-def]
    known = facts if facts is not None else linked()
    decision = decide(change, CATALOGUE.entity(change.entity), policy(), known, NOW)
    return plan(change, decision, version, LATER)


def test_reassignment_plans_a_delete_a_create_and_one_decision() -> None:
    change = crm(
        "contact", "update", every_field("contact"), owner_mailbox=BOB, previous_owner_mailbox=ALICE, statecode=0
    )
    out = planned(change, linked(ALICE))
    assert [(o.topic, o.key, o.event.op) for o in out] == [
        (topics.DELTAS_EXCHANGE, f"{ALICE}:contact:r1", "delete"),
        (topics.DELTAS_EXCHANGE, f"{BOB}:contact:r1", "create"),
        (topics.DECISIONS, "contact:r1", "update"),
    ]
    delete, create, decision = (o.event for o in out)
    assert isinstance(delete, ItemDelta) and delete.exchange_id == f"x-{ALICE}" and delete.changed == {}
    assert isinstance(create, ItemDelta) and create.mailbox == BOB and create.exchange_id is None
    assert isinstance(decision, SyncDecision) and decision.policy_version == 7


def test_delta_copies_timings_ids_and_causation() -> None:
    change = crm("task", "update", {"subject": "s"}, owner_mailbox=ALICE).model_copy(update={"version": "v9"})
    delta = planned(change, linked(ALICE))[0].event
    assert isinstance(delta, ItemDelta)
    assert (delta.occurred_at, delta.captured_at, delta.decided_at) == (NOW, NOW, LATER)
    assert (delta.causation_id, delta.source_version, delta.policy_version) == ("e1", "v9", 7)
    assert (delta.target, delta.crm_id, delta.changed) == ("exchange", "r1", {"subject": "s"})


def test_unlinked_exchange_create_is_keyed_by_mailbox_and_exchange_id() -> None:
    change = exchange("task", "create", {"subject": "s"}, crm_id=None, **TRACKED)
    delta, decision = planned(change)
    assert (delta.topic, delta.key) == (topics.DELTAS_CRM, f"task:x-{ALICE}:x1")
    assert isinstance(delta.event, ItemDelta)
    assert (delta.event.mailbox, delta.event.exchange_id, delta.event.target) == (ALICE, "x1", "crm")
    assert decision.key == f"task:x-{ALICE}:x1"


def test_linked_exchange_update_is_keyed_by_crm_id() -> None:
    delta, _ = planned(exchange("contact", "update", {"mobilephone": "2"}))
    assert (delta.topic, delta.key) == (topics.DELTAS_CRM, "contact:r1")


def test_a_replayed_change_plans_identical_event_ids() -> None:
    change = crm("contact", "create", every_field("contact"), owner_mailbox=ALICE, statecode=0)
    first = [o.event.event_id for o in planned(change)]
    assert first == [o.event.event_id for o in planned(change)]
    assert len(set(first)) == len(first)


def test_decision_records_every_field_and_the_version() -> None:
    change = crm("contact", "update", {"telephone1": "1"}, owner_mailbox=ALICE, statecode=0)
    decision = planned(change, linked(ALICE), version=12)[-1].event
    assert isinstance(decision, SyncDecision) and decision.policy_version == 12
    assert {o.field for o in decision.outcomes} == {p.key for p in CATALOGUE.entities["contact"].fields}
    synced = [o for o in decision.outcomes if o.synced]
    assert [(o.field, o.mailbox) for o in synced] == [("telephone1", ALICE)]


def test_a_withheld_delete_is_explained_in_the_published_decision() -> None:
    change = crm("appointment", "delete")
    facts = linked(ALICE, crm={"organizer": BOB, "appointment_time": {"scheduledstart": "2026-06-02T10:00:00Z"}})
    *_, decision = (o.event for o in planned(change, facts))
    assert isinstance(decision, SyncDecision) and decision.outcomes == ()
    (note,) = decision.notes
    assert (note.target, note.mailbox, note.effect, note.reason) == ("exchange", ALICE, "unlink", "not_organizer")
    assert note.detail is not None and "not the organizer" in note.detail and "link" in note.detail
    assert SyncDecision.model_validate_json(decision.model_dump_json()).notes == decision.notes


def test_a_crm_contact_delete_plans_an_unlink_for_the_owner_and_a_delete_elsewhere() -> None:
    out = planned(crm("contact", "delete", owner_mailbox=ALICE), linked(ALICE, BOB))
    unlink, delete, decision = (o.event for o in out)
    assert isinstance(unlink, ItemDelta) and isinstance(delete, ItemDelta)
    assert (unlink.op, unlink.keep_item, unlink.mailbox, unlink.exchange_id) == ("delete", True, ALICE, f"x-{ALICE}")
    assert (delete.op, delete.keep_item, delete.mailbox) == ("delete", False, BOB)
    assert out[0].key == f"{ALICE}:contact:r1"  # ordered with every other delta of that item
    assert isinstance(decision, SyncDecision)
    assert [(n.mailbox, n.effect, n.reason) for n in decision.notes] == [
        (ALICE, "unlink", "owner_keeps_contact"),
        (BOB, "delete", "delete"),
    ]


def test_every_target_gets_a_note_even_when_fields_flow() -> None:
    change = crm("contact", "update", {"telephone1": "1"}, owner_mailbox=ALICE, statecode=0)
    decision = planned(change, linked(ALICE))[-1].event
    assert isinstance(decision, SyncDecision)
    assert [(n.target, n.mailbox, n.effect, n.reason) for n in decision.notes] == [
        ("exchange", ALICE, "update", "update")
    ]
