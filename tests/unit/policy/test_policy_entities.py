"""decide() for phone calls, letters, faxes and service activities, and for the pairs one side cannot write."""

from __future__ import annotations

import pytest

from tests.policy_builders import (
    ALICE,
    DONE_TASK,
    FUTURE,
    OPEN_TASK,
    PAST,
    TRACKED,
    Row,
    check_row,
    crm,
    every_field,
    exchange,
    linked,
    policy,
)

TASKS_KEPT = policy().model_copy(update={"settings": policy().settings.model_copy(
    update={"delete_exchange_tasks_in_crm": False})})  # fmt: skip
ACCOUNT = {"id": "a1", "logicalname": "account", "name": "Contoso"}
TASK_LIKE = ("phonecall", "letter", "fax")

ROWS = [
    # Phone calls, letters and faxes are Exchange tasks: created in the owner's mailbox, edits both ways
    *(Row(f"crm create {e}: a task in the owner's mailbox", crm(e, "create", every_field(e), owner_mailbox=ALICE),
          [("exchange", ALICE, "create")]) for e in TASK_LIKE),
    *(Row(f"crm update {e}: subject reaches the mailbox", crm(e, "update", {"subject": "S"}, owner_mailbox=ALICE),
          [("exchange", ALICE, "update")], fields={f"exchange:{ALICE}": ["subject"]}, facts=linked(ALICE))
      for e in TASK_LIKE),
    *(Row(f"exchange update of a linked {e}: subject reaches CRM", exchange(e, "update", {"subject": "S"}, **TRACKED),
          [("crm", ALICE, "update")], fields={f"crm:{ALICE}": ["subject"]}) for e in TASK_LIKE),
    # Task delete rules (sync-semantics 4) for all four
    *(Row(f"exchange delete {e}", exchange(e, "delete", **TRACKED), [("crm", ALICE, "delete")]) for e in TASK_LIKE),
    *(Row(f"exchange delete {e}, setting keeps tasks in CRM: the link goes",
          exchange(e, "delete", **TRACKED), [("exchange", ALICE, "unlink")], policy=TASKS_KEPT,
          notes={f"crm:{ALICE}": "tasks_kept_in_crm", f"exchange:{ALICE}": "tasks_kept_in_crm"})
      for e in (*TASK_LIKE, "task")),
    *(Row(f"crm delete {e}: open task deleted", crm(e, "delete"), [("exchange", ALICE, "delete")],
          facts=linked(ALICE, exchange={ALICE: OPEN_TASK})) for e in TASK_LIKE),
    *(Row(f"crm delete {e}: completed task kept, unlinked", crm(e, "delete"), [("exchange", ALICE, "unlink")],
          facts=linked(ALICE, exchange={ALICE: DONE_TASK}), notes={f"exchange:{ALICE}": "task_completed"})
      for e in TASK_LIKE),
    # Service activities: CRM to Exchange only
    Row("crm create serviceappointment: a calendar item in the owner's mailbox",
        crm("serviceappointment", "create", every_field("serviceappointment"), owner_mailbox=ALICE),
        [("exchange", ALICE, "create")]),
    Row("exchange edit of a service activity never reaches CRM",
        exchange("serviceappointment", "update", {"subject": "Outlook", "location": "X"}, **TRACKED), [],
        reasons={"subject": "fixed", "location": "fixed"}),
    Row("exchange delete of a service activity never reaches CRM", exchange("serviceappointment", "delete", **TRACKED),
        [], notes={f"crm:{ALICE}": "fixed_to_exchange"}),
    Row("crm delete serviceappointment in the future", crm("serviceappointment", "delete"),
        [("exchange", ALICE, "delete")], facts=linked(ALICE, crm={"appointment_time": FUTURE})),
    Row("crm delete serviceappointment in the past: kept, unlinked", crm("serviceappointment", "delete"),
        [("exchange", ALICE, "unlink")], facts=linked(ALICE, crm={"appointment_time": PAST}),
        notes={f"exchange:{ALICE}": "not_in_future"}),
    # Pairs one side can never write: decided unmapped for that side, never in a delta to it
    Row("crm organizer never reaches Exchange (EWS cannot set it)",
        crm("appointment", "update", {"organizer": "bob@sandbox.local", "subject": "S"}, owner_mailbox=ALICE),
        [("exchange", ALICE, "update")], fields={f"exchange:{ALICE}": ["subject"]}, facts=linked(ALICE),
        reasons={"organizer": "unmapped", "subject": None}),  # type: ignore[dict-item]
    *(Row(f"crm actualend of a {e} never reaches Exchange (CompleteDate is read-only)",
          crm(e, "update", {"actualend": "2026-05-01T10:00:00Z"}, owner_mailbox=ALICE), [], facts=linked(ALICE),
          reasons={"actualend": "unmapped"}) for e in ("task", *TASK_LIKE)),
    Row("exchange completion date of a phone call reaches CRM",
        exchange("phonecall", "update", {"actualend": "2026-05-01T10:00:00Z"}, **TRACKED), [("crm", ALICE, "update")],
        fields={f"crm:{ALICE}": ["actualend"]}),
    Row("crm parent customer reaches the contact's Company",
        crm("contact", "update", {"parentcustomerid": ACCOUNT}, owner_mailbox=ALICE), [("exchange", ALICE, "update")],
        fields={f"exchange:{ALICE}": ["parentcustomerid"]}, facts=linked(ALICE)),
    Row("exchange Company never reaches CRM's parent customer (a name binds no record)",
        exchange("contact", "update", {"parentcustomerid": {"name": "Typed"}}), [],
        reasons={"parentcustomerid": "unmapped"}),
    *(Row(f"crm regarding of a {e} reaches the mailbox as its name",
          crm(e, "update", {"regardingobjectid": ACCOUNT}, owner_mailbox=ALICE), [("exchange", ALICE, "update")],
          fields={f"exchange:{ALICE}": ["regardingobjectid"]}, facts=linked(ALICE))
      for e in ("task", "appointment", *TASK_LIKE, "serviceappointment")),
    *(Row(f"exchange regarding text of a {e} never reaches CRM",
          exchange(e, "update", {"regardingobjectid": {"name": "Typed"}}, **TRACKED), [],
          reasons={"regardingobjectid": "unmapped"}) for e in ("task", "appointment", *TASK_LIKE)),
    Row("attachments flow neither way (setting off): crm",
        crm("appointment", "update", {"attachments": []}, owner_mailbox=ALICE),
        [], facts=linked(ALICE), reasons={"attachments": "fixed"}),
    Row("attachments flow neither way (setting off): exchange",
        exchange("appointment", "update", {"attachments": []}, **TRACKED), [], reasons={"attachments": "fixed"}),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table(row: Row) -> None:
    check_row(row)
