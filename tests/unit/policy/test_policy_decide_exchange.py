"""decide() from Exchange to CRM: tracking, directions and Exchange deletes, one row per branch."""

from __future__ import annotations

import pytest

from services.policy.verdict import Facts
from tests.policy_builders import (
    ALICE,
    BOB,
    FUTURE,
    PAST,
    TRACKED,
    Row,
    check_row,
    exchange,
    policy,
)

ROWS = [
    Row(
        "linked item without the category (created from CRM): edits flow",
        exchange("task", "update", {"subject": "s"}, categories=[]),
        [("crm", ALICE, "update")],
    ),
    Row(
        "unlinked item tracked late: created with its snapshot's fields",
        exchange("task", "update", {}, crm_id=None, **TRACKED),
        [("crm", ALICE, "create")],
        fields={f"crm:{ALICE}": ["description", "subject"]},
        facts=Facts(exchange_values={ALICE: {"subject": "s", "description": "d", "@version": "ck"}}),
    ),
    # Exchange to CRM: tracking and direction
    Row(
        "exchange create tracked appointment",
        exchange("appointment", "create", {"subject": "s"}, crm_id=None, **TRACKED),
        [("crm", ALICE, "create")],
    ),
    Row(
        "exchange create untracked appointment",
        exchange("appointment", "create", {"subject": "s"}, crm_id=None, categories=[]),
        [],
        reasons={"subject": "untracked"},
    ),
    Row(
        "exchange create tracked task",
        exchange("task", "create", {"subject": "s"}, crm_id=None, **TRACKED),
        [("crm", ALICE, "create")],
    ),
    Row(
        "exchange create contact: never tracked",
        exchange("contact", "create", {"telephone1": "1"}, crm_id=None, **TRACKED),
        [],
        reasons={"telephone1": "untracked"},
    ),
    Row(
        "exchange update linked contact",
        exchange("contact", "update", {"mobilephone": "2"}),
        [("crm", ALICE, "update")],
        fields={f"crm:{ALICE}": ["mobilephone"]},
    ),
    Row(
        "exchange update: none field stays, sibling flows",
        exchange("contact", "update", {"description": "n", "mobilephone": "2"}),
        [("crm", ALICE, "update")],
        fields={f"crm:{ALICE}": ["mobilephone"]},
        reasons={"description": "direction"},
        policy=policy(contact__description="none"),
    ),
    Row(
        "exchange update to_exchange field stays",
        exchange("contact", "update", {"description": "n"}),
        [],
        reasons={"description": "direction"},
        policy=policy(contact__description="to_exchange"),
    ),
    Row(
        "exchange update fixed to_exchange field",
        exchange("serviceappointment", "update", {"subject": "s"}, **TRACKED),
        [],
        reasons={"subject": "fixed"},
    ),
    Row(
        "exchange update linked appointment, still tracked",
        exchange("appointment", "update", {"location": "L"}, **TRACKED),
        [("crm", ALICE, "update")],
    ),
    Row(
        "exchange update linked appointment, category removed: untracked",
        exchange("appointment", "update", {}, categories=["Red"]),
        [],
    ),
    Row(
        "field without a CRM attribute is unmapped",
        exchange("appointment", "update", {"attachments": []}, **TRACKED),
        [],
        reasons={"attachments": "unmapped"},
    ),
    Row(
        "exchange echo",
        exchange("task", "update", {"subject": "s"}).model_copy(update={"origin": "fieldsync"}),
        [],
        reasons={"subject": "echo"},
    ),
    # Exchange deletes
    Row("exchange delete unlinked", exchange("task", "delete", crm_id=None), []),
    Row("exchange delete contact by its owner", exchange("contact", "delete"), [("crm", ALICE, "delete")]),
    Row("exchange delete contact by another user", exchange("contact", "delete", owner_mailbox=BOB), []),
    Row(
        "exchange delete appointment: organizer, future, open",
        exchange("appointment", "delete", is_organizer=True),
        [("crm", ALICE, "delete")],
        facts=Facts(crm_values={"appointment_time": FUTURE, "appointment_status": {"statecode": 0, "statuscode": 5}}),
    ),
    Row(
        "exchange delete appointment: canceled",
        exchange("appointment", "delete", is_organizer=True),
        [],
        facts=Facts(crm_values={"appointment_time": FUTURE, "appointment_status": {"statecode": 2, "statuscode": 4}}),
    ),
    Row(
        "exchange delete appointment: past",
        exchange("appointment", "delete", is_organizer=True),
        [],
        facts=Facts(crm_values={"appointment_time": PAST}),
    ),
    Row(
        "exchange delete appointment: not organizer",
        exchange("appointment", "delete", is_organizer=False),
        [],
        facts=Facts(crm_values={"appointment_time": FUTURE}),
    ),
    Row(
        "exchange delete appointment: organizer from values",
        exchange("appointment", "delete"),
        [("crm", ALICE, "delete")],
        facts=Facts(crm_values={"appointment_time": FUTURE, "organizer": ALICE}),
    ),
    Row("exchange delete task", exchange("task", "delete"), [("crm", ALICE, "delete")]),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table(row: Row) -> None:
    check_row(row)
