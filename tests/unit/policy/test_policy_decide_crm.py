"""decide() from CRM to Exchange: direction, fixed, echo, scope and CRM deletes, one row per branch."""

from __future__ import annotations

import pytest

from services.policy.decide import decide
from tests.policy_builders import (
    ALICE,
    BOB,
    CATALOGUE,
    DONE_TASK,
    FUTURE,
    NOW,
    OPEN_TASK,
    PAST,
    Row,
    check_row,
    crm,
    every_field,
    linked,
    policy,
)

ROWS = [
    # CRM to Exchange: direction and fixed
    Row(
        "crm create contact: every mapped field to the owner",
        crm("contact", "create", every_field("contact"), owner_mailbox=ALICE, statecode=0),
        [("exchange", ALICE, "create")],
        fields={f"exchange:{ALICE}": sorted(every_field("contact"))},
    ),
    Row(
        "crm update to_crm field: stays in CRM",
        crm("contact", "update", {"telephone1": "1"}, owner_mailbox=ALICE, statecode=0),
        [],
        reasons={"telephone1": "direction", "mobilephone": "unchanged"},
        policy=policy(contact__telephone1="to_crm"),
        facts=linked(ALICE),
    ),
    Row(
        "crm update none field: stays, sibling flows",
        crm("contact", "update", {"description": "n", "telephone1": "1"}, owner_mailbox=ALICE, statecode=0),
        [("exchange", ALICE, "update")],
        fields={f"exchange:{ALICE}": ["telephone1"]},
        reasons={"description": "direction"},
        policy=policy(contact__description="none"),
        facts=linked(ALICE),
    ),
    Row(
        "crm update to_exchange field flows",
        crm("contact", "update", {"description": "n"}, owner_mailbox=ALICE, statecode=0),
        [("exchange", ALICE, "update")],
        fields={f"exchange:{ALICE}": ["description"]},
        policy=policy(contact__description="to_exchange"),
        facts=linked(ALICE),
    ),
    Row(
        "fixed field ignores a stored none",
        crm("contact", "update", {"fullname": {"firstname": "A"}}, owner_mailbox=ALICE, statecode=0),
        [("exchange", ALICE, "update")],
        fields={f"exchange:{ALICE}": ["fullname"]},
        policy=policy(contact__fullname="none"),
        facts=linked(ALICE),
    ),
    Row(
        "unknown field key is unmapped",
        crm("contact", "update", {"bogus": 1}, owner_mailbox=ALICE, statecode=0),
        [],
        reasons={"bogus": "unmapped"},
        facts=linked(ALICE),
    ),
    Row(
        "fixed none field (attachments) stays",
        crm("appointment", "update", {"attachments": []}, owner_mailbox=ALICE),
        [],
        reasons={"attachments": "fixed"},
        facts=linked(ALICE),
    ),
    Row(
        "echo of fieldsync's own write",
        crm("contact", "update", {"telephone1": "1"}, owner_mailbox=ALICE).model_copy(update={"origin": "fieldsync"}),
        [],
        reasons={"telephone1": "echo"},
        facts=linked(ALICE),
    ),
    Row(
        "unknown entity",
        crm("opportunity", "update", {"name": "x"}, owner_mailbox=ALICE),
        [],
        reasons={"name": "unmapped"},
    ),
    # CRM to Exchange: scope
    Row(
        "inactive contact create: out of scope",
        crm("contact", "create", {"telephone1": "1"}, owner_mailbox=ALICE, statecode=1),
        [],
        reasons={"telephone1": "out_of_scope"},
    ),
    Row(
        "owner without mailbox: out of scope",
        crm("task", "create", {"subject": "s"}, owner_mailbox=None),
        [],
        reasons={"subject": "out_of_scope"},
    ),
    Row(
        "inactive task still in scope",
        crm("task", "create", {"subject": "s"}, owner_mailbox=ALICE, statecode=1),
        [("exchange", ALICE, "create")],
    ),
    Row(
        "deactivated contact: delete in the owner's mailbox",
        crm("contact", "update", every_field("contact"), owner_mailbox=ALICE, statecode=1),
        [("exchange", ALICE, "delete")],
        reasons={"telephone1": "out_of_scope"},
        facts=linked(ALICE),
    ),
    Row(
        "reactivated contact: create",
        crm("contact", "update", every_field("contact"), owner_mailbox=ALICE, statecode=0),
        [("exchange", ALICE, "create")],
    ),
    Row(
        "reassigned contact: delete old, create new",
        crm("contact", "update", every_field("contact"), owner_mailbox=BOB, previous_owner_mailbox=ALICE, statecode=0),
        [("exchange", ALICE, "delete"), ("exchange", BOB, "create")],
        facts=linked(ALICE),
    ),
    Row(
        "reassigned appointment: no logical delete, create new",
        crm("appointment", "update", every_field("appointment"), owner_mailbox=BOB, previous_owner_mailbox=ALICE),
        [("exchange", BOB, "create")],
        facts=linked(ALICE),
    ),
    Row(
        "reassigned open task: delete old",
        crm("task", "update", every_field("task"), owner_mailbox=BOB, previous_owner_mailbox=ALICE),
        [("exchange", ALICE, "delete"), ("exchange", BOB, "create")],
        facts=linked(ALICE, exchange={ALICE: OPEN_TASK}),
    ),
    Row(
        "reassigned completed task: kept in old",
        crm("task", "update", every_field("task"), owner_mailbox=BOB, previous_owner_mailbox=ALICE),
        [("exchange", BOB, "create")],
        facts=linked(ALICE, exchange={ALICE: DONE_TASK}),
    ),
    Row(
        "partial update before the link exists: update",
        crm("task", "update", {"subject": "s"}, owner_mailbox=ALICE),
        [("exchange", ALICE, "update")],
    ),
    Row(
        "update with nothing allowed: no write",
        crm("task", "update", {"subject": "s"}, owner_mailbox=ALICE),
        [],
        reasons={"subject": "direction"},
        policy=policy(task__subject="none"),
        facts=linked(ALICE),
    ),
    # CRM deletes
    Row(
        "crm delete contact: the owner keeps it", crm("contact", "delete", owner_mailbox=ALICE), [], facts=linked(ALICE)
    ),
    Row(
        "crm delete contact: other mailbox loses it",
        crm("contact", "delete", owner_mailbox=ALICE),
        [("exchange", BOB, "delete")],
        facts=linked(ALICE, BOB),
    ),
    Row("crm delete unlinked: nothing", crm("contact", "delete", owner_mailbox=ALICE), []),
    Row(
        "crm delete appointment: organizer, future",
        crm("appointment", "delete"),
        [("exchange", ALICE, "delete")],
        facts=linked(ALICE, crm={"organizer": ALICE, "appointment_time": FUTURE}),
    ),
    Row(
        "crm delete appointment: past",
        crm("appointment", "delete"),
        [],
        facts=linked(ALICE, crm={"organizer": ALICE, "appointment_time": PAST}),
    ),
    Row(
        "crm delete appointment: not organizer",
        crm("appointment", "delete"),
        [],
        facts=linked(ALICE, crm={"organizer": BOB, "appointment_time": FUTURE}),
    ),
    Row(
        "crm delete appointment: start unknown",
        crm("appointment", "delete"),
        [],
        facts=linked(ALICE, crm={"organizer": ALICE}),
    ),
    Row(
        "crm delete task: open",
        crm("task", "delete"),
        [("exchange", ALICE, "delete")],
        facts=linked(ALICE, exchange={ALICE: OPEN_TASK}),
    ),
    Row(
        "crm delete task: completed in Exchange",
        crm("task", "delete"),
        [],
        facts=linked(ALICE, exchange={ALICE: DONE_TASK}),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table(row: Row) -> None:
    check_row(row)


def test_exchange_ids_travel_with_the_writes() -> None:
    change = crm("contact", "update", {"telephone1": "1"}, owner_mailbox=ALICE, statecode=0)
    (write,) = decide(change, CATALOGUE.entity("contact"), policy(), linked(ALICE), NOW).writes
    assert write.exchange_id == f"x-{ALICE}"


def test_composite_fields_map_whole() -> None:
    address = {"address1_line1": "1 Main St", "address1_city": "Springfield", "address1_country": None}
    change = crm("contact", "update", {"address1_composite": address}, owner_mailbox=ALICE, statecode=0)
    (write,) = decide(change, CATALOGUE.entity("contact"), policy(), linked(ALICE), NOW).writes
    assert write.fields == {"address1_composite": address}
