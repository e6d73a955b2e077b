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

# A weekly series with no end, running at NOW (2026-06-01).
RUNNING_SERIES = {"recurrencepatterntype": 1, "interval": 1, "daysofweekmask": 2, "patternstartdate": "2026-05-04",
                  "patternendtype": 1, "starttime": "2026-05-04T09:00:00Z", "endtime": "2026-05-04T09:30:00Z"}

ROWS = [
    # Tracking of linked appointments and tasks (fieldsync puts the category on those it creates)
    Row(
        "linked task edited after its category was removed: untracked and remembered",
        exchange("task", "update", {"subject": "s"}, categories=["Red"]),
        [],
        reasons={"subject": "untracked", "description": "unchanged"},
        notes={f"crm:{ALICE}": "untracked"},
        tracking="untrack",
    ),
    Row(
        "linked task still untracked: edits stay out of CRM, nothing new to remember",
        exchange("task", "update", {"subject": "s2"}, categories=[]),
        [],
        reasons={"subject": "untracked"},
        facts=Facts(untracked=frozenset({ALICE})),
    ),
    Row(
        "linked task untracked, the event does not say its categories: the remembered state decides",
        exchange("task", "update", {"subject": "s2"}),
        [],
        reasons={"subject": "untracked"},
        facts=Facts(untracked=frozenset({ALICE})),
    ),
    Row(
        "linked task re-tracked: the mark goes and its snapshot's fields reach CRM",
        exchange("task", "update", {}, **TRACKED),
        [("crm", ALICE, "update")],
        fields={f"crm:{ALICE}": ["description", "subject"]},
        facts=Facts(
            untracked=frozenset({ALICE}),
            exchange_values={ALICE: {"subject": "s2", "description": "d", "@categories": ["x"]}},
        ),
        notes={f"crm:{ALICE}": "retracked"},
        tracking="retrack",
    ),
    Row(
        "linked task re-tracked in the same save as an edit: the edit wins over the snapshot",
        exchange("task", "update", {"subject": "s3"}, **TRACKED),
        [("crm", ALICE, "update")],
        fields={f"crm:{ALICE}": ["description", "subject"]},
        facts=Facts(untracked=frozenset({ALICE}), exchange_values={ALICE: {"subject": "old", "description": "d"}}),
        tracking="retrack",
    ),
    Row(
        "linked contact: never untracked (contacts carry no tracking category)",
        exchange("contact", "update", {"mobilephone": "2"}, categories=[]),
        [("crm", ALICE, "update")],
        notes={f"crm:{ALICE}": "update"},
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
        "exchange create tracked recurring series: a CRM recurring appointment with its pattern",
        exchange("recurringappointmentmaster", "create", {"subject": "s", "recurrence_pattern": RUNNING_SERIES},
                 crm_id=None, **TRACKED),
        [("crm", ALICE, "create")],
        fields={f"crm:{ALICE}": ["recurrence_pattern", "subject"]},
    ),
    Row(
        "exchange update linked recurring series: the pattern flows both ways",
        exchange("recurringappointmentmaster", "update", {"recurrence_pattern": RUNNING_SERIES}, **TRACKED),
        [("crm", ALICE, "update")],
        fields={f"crm:{ALICE}": ["recurrence_pattern"]},
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
        notes={f"crm:{ALICE}": "untracked"},
        tracking="untrack",
    ),
    Row(
        "attachments: fixed at `none` while sync_appointment_attachments is off",
        exchange("appointment", "update", {"attachments": []}, **TRACKED),
        [],
        reasons={"attachments": "fixed"},
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
    Row(
        "exchange delete recurring appointment: organizer, series running, open",
        exchange("recurringappointmentmaster", "delete", is_organizer=True),
        [("crm", ALICE, "delete")],
        facts=Facts(crm_values={"recurrence_pattern": RUNNING_SERIES}),
    ),
    Row(
        "exchange delete recurring appointment: series over",
        exchange("recurringappointmentmaster", "delete", is_organizer=True),
        [],
        facts=Facts(crm_values={"recurrence_pattern": {**RUNNING_SERIES, "patternendtype": 3,
                                                        "patternenddate": "2026-05-20"}}),
        notes={f"crm:{ALICE}": "in_past"},
    ),
    Row(
        "exchange delete recurring appointment: canceled",
        exchange("recurringappointmentmaster", "delete", is_organizer=True),
        [],
        facts=Facts(crm_values={"recurrence_pattern": RUNNING_SERIES,
                                "appointment_status": {"statecode": 2, "statuscode": 4}}),
        notes={f"crm:{ALICE}": "completed_or_canceled"},
    ),
    Row(
        "exchange delete recurring appointment: not organizer",
        exchange("recurringappointmentmaster", "delete", is_organizer=False),
        [],
        facts=Facts(crm_values={"recurrence_pattern": RUNNING_SERIES}),
        notes={f"crm:{ALICE}": "not_organizer"},
    ),
    Row("exchange delete task", exchange("task", "delete"), [("crm", ALICE, "delete")]),
    Row("exchange delete tracked task", exchange("task", "delete", **TRACKED), [("crm", ALICE, "delete")]),
    Row(
        "exchange delete of a task whose category was removed: untracking never deletes",
        exchange("task", "delete", categories=[]),
        [],
        notes={f"crm:{ALICE}": "untracked"},
    ),
    Row(
        "exchange delete of a remembered untracked task",
        exchange("task", "delete"),
        [],
        facts=Facts(untracked=frozenset({ALICE})),
        notes={f"crm:{ALICE}": "untracked"},
    ),
]
ROWS += [  # every withheld Exchange delete says why in its note
    Row(r.name + " (note)", r.change, r.writes, facts=r.facts, notes={f"crm:{ALICE}": note})
    for r, note in (
        (ROWS[-1], "untracked"),
        (next(r for r in ROWS if r.name == "exchange delete appointment: canceled"), "completed_or_canceled"),
        (next(r for r in ROWS if r.name == "exchange delete appointment: past"), "in_past"),
        (next(r for r in ROWS if r.name == "exchange delete appointment: not organizer"), "not_organizer"),
        (next(r for r in ROWS if r.name == "exchange delete contact by another user"), "not_owner"),
        (next(r for r in ROWS if r.name == "exchange delete unlinked"), "not_linked"),
    )
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table(row: Row) -> None:
    check_row(row)
