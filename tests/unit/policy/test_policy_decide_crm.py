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

# Weekly series around NOW (2026-06-01): one with no end, one whose count ran out before it (two weeks from May 1).
RUNNING_SERIES = {"recurrencepatterntype": 1, "interval": 1, "daysofweekmask": 2, "patternstartdate": "2026-05-04",
                  "patternendtype": 1, "starttime": "2026-05-04T09:00:00Z", "endtime": "2026-05-04T09:30:00Z"}
ENDED_SERIES = {**RUNNING_SERIES, "patternstartdate": "2026-05-01", "patternendtype": 2, "occurrences": 2}

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
        "attachments stay `none` while sync_appointment_attachments is off (the default): fixed",
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
    # CRM deletes: a delete the tables withhold from a linked mailbox unlinks the item there (it stays)
    Row(
        "crm delete contact: the owner keeps it, unlinked",
        crm("contact", "delete", owner_mailbox=ALICE),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE),
        notes={f"exchange:{ALICE}": "owner_keeps_contact"},
    ),
    Row(
        "crm delete contact: other mailbox loses it, the owner keeps and unlinks",
        crm("contact", "delete", owner_mailbox=ALICE),
        [("exchange", ALICE, "unlink"), ("exchange", BOB, "delete")],
        facts=linked(ALICE, BOB),
        notes={f"exchange:{ALICE}": "owner_keeps_contact", f"exchange:{BOB}": "delete"},
    ),
    Row(
        "crm delete unlinked: nothing",
        crm("contact", "delete", owner_mailbox=ALICE),
        [],
        notes={"exchange:None": "not_linked"},
    ),
    Row(
        "crm delete contact: previous owner, link unknown yet: delete by key (its create may be in flight)",
        crm("contact", "delete", owner_mailbox=BOB, previous_owner_mailbox=ALICE),
        [("exchange", ALICE, "delete")],
        notes={f"exchange:{ALICE}": "delete"},
    ),
    Row(
        "crm delete appointment: organizer, future",
        crm("appointment", "delete"),
        [("exchange", ALICE, "delete")],
        facts=linked(ALICE, crm={"organizer": ALICE, "appointment_time": FUTURE}),
        notes={f"exchange:{ALICE}": "delete"},
    ),
    Row(
        "crm delete appointment: past, kept and unlinked",
        crm("appointment", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, crm={"organizer": ALICE, "appointment_time": PAST}),
        notes={f"exchange:{ALICE}": "not_in_future"},
    ),
    Row(
        "crm delete appointment: not organizer, kept and unlinked",
        crm("appointment", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, crm={"organizer": BOB, "appointment_time": FUTURE}),
        notes={f"exchange:{ALICE}": "not_organizer"},
    ),
    Row(
        "crm delete appointment: start unknown, kept and unlinked",
        crm("appointment", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, crm={"organizer": ALICE}),
        notes={f"exchange:{ALICE}": "not_in_future"},
    ),
    Row(
        "crm delete recurring appointment: organizer, series still running",
        crm("recurringappointmentmaster", "delete"),
        [("exchange", ALICE, "delete")],
        facts=linked(ALICE, crm={"organizer": ALICE, "recurrence_pattern": RUNNING_SERIES}),
        notes={f"exchange:{ALICE}": "delete"},
    ),
    Row(
        "crm delete recurring appointment: series over, kept and unlinked",
        crm("recurringappointmentmaster", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, crm={"organizer": ALICE, "recurrence_pattern": ENDED_SERIES}),
        notes={f"exchange:{ALICE}": "not_in_future"},
    ),
    Row(
        "crm delete recurring appointment: not organizer, kept and unlinked",
        crm("recurringappointmentmaster", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, crm={"organizer": BOB, "recurrence_pattern": RUNNING_SERIES}),
        notes={f"exchange:{ALICE}": "not_organizer"},
    ),
    Row(
        "crm delete recurring appointment: pattern unknown, kept and unlinked",
        crm("recurringappointmentmaster", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, crm={"organizer": ALICE}),
        notes={f"exchange:{ALICE}": "not_in_future"},
    ),
    Row(
        "crm delete task: open",
        crm("task", "delete"),
        [("exchange", ALICE, "delete")],
        facts=linked(ALICE, exchange={ALICE: OPEN_TASK}),
    ),
    Row(
        "crm delete task: completed in Exchange, kept and unlinked",
        crm("task", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, exchange={ALICE: DONE_TASK}),
        notes={f"exchange:{ALICE}": "task_completed"},
    ),
    # Untracked in the mailbox (the user removed the tracking category): CRM changes stop flowing there
    Row(
        "crm update of an untracked task: nothing reaches the mailbox",
        crm("task", "update", {"subject": "s"}, owner_mailbox=ALICE),
        [],
        reasons={"subject": "untracked", "description": "unchanged"},
        facts=linked(ALICE, untracked=(ALICE,)),
        notes={f"exchange:{ALICE}": "untracked"},
    ),
    Row(
        "crm update carrying every field (state change) of an untracked appointment: no create either",
        crm("appointment", "update", every_field("appointment"), owner_mailbox=ALICE, statecode=1),
        [],
        reasons={"subject": "untracked"},
        facts=linked(ALICE, untracked=(ALICE,)),
    ),
    Row(
        "crm update: only the untracked mailbox is skipped, a new owner still gets it",
        crm("task", "update", every_field("task"), owner_mailbox=BOB, previous_owner_mailbox=ALICE),
        [("exchange", BOB, "create")],
        reasons={"subject": "untracked"},
        facts=linked(ALICE, exchange={ALICE: OPEN_TASK}, untracked=(ALICE,)),
        notes={f"exchange:{ALICE}": "untracked", f"exchange:{BOB}": "create"},
    ),
    Row(
        "crm delete of an untracked open task: kept in the mailbox and unlinked",
        crm("task", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, exchange={ALICE: OPEN_TASK}, untracked=(ALICE,)),
        notes={f"exchange:{ALICE}": "untracked"},
    ),
    Row(
        "crm delete of an untracked future appointment it organizes: kept and unlinked",
        crm("appointment", "delete"),
        [("exchange", ALICE, "unlink")],
        facts=linked(ALICE, crm={"organizer": ALICE, "appointment_time": FUTURE}, untracked=(ALICE,)),
        notes={f"exchange:{ALICE}": "untracked"},
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


def test_an_unlink_carries_the_exchange_id_and_keeps_the_item() -> None:
    change = crm("contact", "delete", owner_mailbox=ALICE)
    (write,) = decide(change, CATALOGUE.entity("contact"), policy(), linked(ALICE), NOW).writes
    assert (write.op, write.keep_item, write.exchange_id, write.effect) == ("delete", True, f"x-{ALICE}", "unlink")


def test_a_delete_that_reaches_the_mailbox_removes_the_item() -> None:
    change = crm("contact", "delete", owner_mailbox=ALICE)
    writes = decide(change, CATALOGUE.entity("contact"), policy(), linked(ALICE, BOB), NOW).writes
    assert [(w.mailbox, w.keep_item) for w in writes] == [(ALICE, True), (BOB, False)]
