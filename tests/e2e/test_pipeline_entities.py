"""Phone calls, letters, faxes and service activities through the whole embedded stack, public interfaces only.

A phone call, a letter and a fax created in CRM become tasks in the owner's mailbox (their regarding account's
name in the Regarding field); their edits flow both ways where the direction allows, and a field set CRM to
Exchange only keeps an Outlook edit out of CRM. A task created and tracked in Outlook becomes a CRM task, never
a phone call. A contact's parent account becomes its Outlook Company. A service activity reaches the calendar;
an Outlook edit of it never reaches CRM and is overwritten by the next CRM change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import Task

from shared.events import TRACKING_CATEGORY
from shared.exchange.properties import register_extended_properties
from tests.e2e.conftest import ALICE, Admin, Crm, Mailboxes, settled
from tests.support import eventually

pytestmark = pytest.mark.e2e
TASK_LIKE = (("phonecalls", "Call"), ("letters", "Letter"), ("faxes", "Fax"))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def later(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module", autouse=True)
def extended_properties() -> None:
    register_extended_properties()  # read the Regarding text (an extended property) through exchangelib


def subject_now(item: Any) -> str:
    """The item's subject as Exchange holds it now (refresh() returns the item: never use it as a condition)."""
    item.refresh()
    return str(item.subject)


def field_of(crm: Crm, entity_set: str, record_id: str, name: str) -> Any:
    return (crm.get(entity_set, record_id) or {}).get(name)


def test_phone_calls_letters_and_faxes_are_tasks_whose_edits_flow_both_ways(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    account = crm.create("accounts", ALICE, {"name": f"Northwind {tag}"})["accountid"]
    admin.set_direction("letter", "description", "to_exchange")  # per direction: a letter's notes CRM -> Outlook only
    made: dict[str, tuple[str, Task]] = {}
    for entity_set, label in TASK_LIKE:
        record = crm.create(entity_set, ALICE, {
            "subject": f"{label} {tag}", "scheduledend": iso(later(3)), "description": "first",
            "regardingobjectid_account@odata.bind": f"/accounts({account})",
        })["activityid"]  # fmt: skip
        made[entity_set] = (record, mailboxes.one(ALICE, "tasks", timeout=40, subject=f"{label} {tag}"))
    for _, item in made.values():
        assert item.categories == [TRACKING_CATEGORY] and item.crm_regarding == f"Northwind {tag}"

    for entity_set, label in TASK_LIKE:  # CRM -> Exchange
        crm.update(entity_set, made[entity_set][0], ALICE, {"subject": f"{label} v2 {tag}"})
    for entity_set, label in TASK_LIKE:
        item = made[entity_set][1]
        eventually(lambda i=item, s=f"{label} v2 {tag}": subject_now(i) == s, timeout=20,
                   what=f"the CRM edit of the {entity_set} in Outlook")  # fmt: skip

    for entity_set, label in TASK_LIKE:  # Exchange -> CRM (the letter's notes only to Exchange)
        item = made[entity_set][1]
        item.subject, item.body = f"{label} v3 {tag}", f"notes from Outlook {tag}"
        item.save(update_fields=["subject", "body"])
    for entity_set, label in TASK_LIKE:
        record = made[entity_set][0]
        eventually(lambda r=record, e=entity_set, s=f"{label} v3 {tag}": field_of(crm, e, r, "subject") == s,
                   timeout=20, what=f"the Outlook edit of the {entity_set} in CRM")  # fmt: skip
    for entity_set in ("phonecalls", "faxes"):
        assert field_of(crm, entity_set, made[entity_set][0], "description") == f"notes from Outlook {tag}"
    assert field_of(crm, "letters", made["letters"][0], "description") == "first"  # to_exchange: kept out of CRM
    # Each record stays the one entity: nothing was created in CRM from these tasks.
    for entity_set, label in (("tasks", "Call"), ("tasks", "Letter"), ("tasks", "Fax")):
        assert crm.find(entity_set, "subject", f"{label} v3 {tag}") == []


def test_a_task_tracked_in_outlook_becomes_a_crm_task_never_a_phone_call(
    crm: Crm, mailboxes: Mailboxes, tag: str
) -> None:
    account = mailboxes.account(ALICE)
    Task(account=account, folder=account.tasks, subject=f"Outlook call {tag}", categories=[TRACKING_CATEGORY]).save()
    (row,) = eventually(lambda: crm.find("tasks", "subject", f"Outlook call {tag}"), timeout=30, what="a CRM task")
    assert row["activityid"]
    assert crm.find("phonecalls", "subject", f"Outlook call {tag}") == []


def test_a_contacts_parent_account_is_its_outlook_company(crm: Crm, mailboxes: Mailboxes, tag: str) -> None:
    account = crm.create("accounts", ALICE, {"name": f"Contoso {tag}"})["accountid"]
    crm.create("contacts", ALICE, {"firstname": "Ana", "lastname": f"Silva {tag}",
                                   "parentcustomerid_account@odata.bind": f"/accounts({account})"})  # fmt: skip
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Silva {tag}")
    assert item.company_name == f"Contoso {tag}"


def test_a_service_activity_reaches_the_calendar_and_outlook_edits_never_reach_crm(
    crm: Crm, mailboxes: Mailboxes, tag: str
) -> None:
    start = later(2)
    record = crm.create("serviceappointments", ALICE, {
        "subject": f"Boiler service {tag}", "location": "Basement", "scheduledstart": iso(start),
        "scheduledend": iso(start + timedelta(minutes=90)), "scheduleddurationminutes": 90, "isalldayevent": False,
    })["activityid"]  # fmt: skip
    item = mailboxes.one(ALICE, "calendar", timeout=40, subject=f"Boiler service {tag}")
    assert item.location == "Basement" and item.start.timestamp() == start.timestamp()

    item.subject, item.location = f"Edited in Outlook {tag}", "Kitchen"
    item.save(update_fields=["subject", "location"])
    version = settled(lambda: (crm.get("serviceappointments", record) or {}).get("versionnumber"))
    row = crm.get("serviceappointments", record) or {}
    assert (row["subject"], row["location"], row["versionnumber"]) == (f"Boiler service {tag}", "Basement", version)

    crm.update("serviceappointments", record, ALICE, {"subject": f"Boiler service moved {tag}"})
    eventually(lambda: subject_now(item) == f"Boiler service moved {tag}", timeout=20,
               what="the next CRM change overwrites the Outlook edit")  # fmt: skip
    assert crm.find("appointments", "subject", f"Edited in Outlook {tag}") == []  # never a CRM appointment either
