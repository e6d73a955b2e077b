"""Appointments and tasks through the whole embedded stack: CRM appointments reach the owner's calendar,
Exchange appointments reach CRM only when tracked, task edits flow both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, Task

from tests.e2e.conftest import ALICE, Crm, Mailboxes
from tests.support import eventually

pytestmark = pytest.mark.e2e
TRACKING_CATEGORY = "Tracked to Dynamics 365"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def tomorrow_at_ten() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def test_crm_appointment_reaches_the_owners_calendar(crm: Crm, mailboxes: Mailboxes, tag: str) -> None:
    start = tomorrow_at_ten()
    crm.create("appointments", ALICE, {
        "subject": f"Review {tag}", "location": "Room 42", "scheduledstart": iso(start),
        "scheduledend": iso(start + timedelta(minutes=45)), "scheduleddurationminutes": 45, "isalldayevent": False,
        "organizer": ALICE, "requiredattendees": [ALICE], "optionalattendees": [],
    })  # fmt: skip
    item = mailboxes.one(ALICE, "calendar", timeout=30, subject=f"Review {tag}")
    assert item.location == "Room 42"
    assert item.start.timestamp() == start.timestamp()
    assert item.end.timestamp() == (start + timedelta(minutes=45)).timestamp()


def calendar_item(mailboxes: Mailboxes, subject: str, categories: list[str]) -> CalendarItem:
    at = tomorrow_at_ten() + timedelta(hours=2)
    start = EWSDateTime(at.year, at.month, at.day, at.hour, tzinfo=EWSTimeZone("UTC"))
    item = CalendarItem(
        account=mailboxes.account(ALICE), folder=mailboxes.account(ALICE).calendar, subject=subject,
        location="Cafe", start=start,
        end=start + timedelta(hours=1), categories=categories or None,
    )  # fmt: skip
    item.save()
    return item


def test_an_exchange_appointment_reaches_crm_only_when_tracked(crm: Crm, mailboxes: Mailboxes, tag: str) -> None:
    calendar_item(mailboxes, f"Untracked {tag}", [])
    calendar_item(mailboxes, f"Tracked {tag}", [TRACKING_CATEGORY])

    (row,) = eventually(
        lambda: crm.find("appointments", "subject", f"Tracked {tag}"), timeout=30, what="tracked in CRM"
    )
    assert row["location"] == "Cafe"
    # The tracked one arrived, and the untracked one (saved first, same mailbox, same folder) did not.
    assert crm.find("appointments", "subject", f"Untracked {tag}") == []


def test_task_edits_flow_both_ways(crm: Crm, mailboxes: Mailboxes, tag: str) -> None:
    due = tomorrow_at_ten() + timedelta(days=2)
    task_id = crm.create("tasks", ALICE, {
        "subject": f"Send proposal {tag}", "scheduledend": iso(due), "percentcomplete": 0, "description": "first",
    })["activityid"]  # fmt: skip
    item: Task = mailboxes.one(ALICE, "tasks", timeout=30, subject=f"Send proposal {tag}")

    crm.update("tasks", task_id, ALICE, {"subject": f"Send proposal v2 {tag}"})
    eventually(
        lambda: item.refresh() or item.subject == f"Send proposal v2 {tag}", timeout=20, what="CRM edit in Exchange"
    )

    item.percent_complete = Decimal(50)
    item.save(update_fields=["percent_complete"])
    eventually(
        lambda: (crm.get("tasks", task_id) or {}).get("percentcomplete") == 50, timeout=20, what="Exchange edit in CRM"
    )
