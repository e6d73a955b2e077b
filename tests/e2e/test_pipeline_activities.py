"""Appointments and tasks through the whole embedded stack: CRM appointments reach the owner's calendar
tracked, Exchange appointments reach CRM only when tracked, task edits flow both ways, and removing the
tracking category untracks a task in both directions until it is added back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, Task

from infra.runner.stack import Stack
from shared import topics
from shared.events import TRACKING_CATEGORY
from tests.e2e.conftest import ALICE, Crm, Mailboxes, on_bus
from tests.support import eventually

pytestmark = pytest.mark.e2e


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
    assert item.categories == [TRACKING_CATEGORY]  # Dynamics marks what it synchronizes as tracked


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
        lambda: item.refresh().subject == f"Send proposal v2 {tag}", timeout=20, what="CRM edit in Exchange"
    )

    item.percent_complete = Decimal(50)
    item.save(update_fields=["percent_complete"])
    eventually(
        lambda: (crm.get("tasks", task_id) or {}).get("percentcomplete") == 50, timeout=20, what="Exchange edit in CRM"
    )


def decisions(stack: Stack, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Every SyncDecision so far that `wanted` accepts (the decision log is public)."""
    return on_bus(stack, topics.DECISIONS, wanted)


def reasons(decision: dict[str, Any]) -> list[tuple[str, str]]:
    return [(n["target"], n["reason"]) for n in decision["notes"]]


def test_removing_the_tracking_category_untracks_a_task_both_ways_until_it_is_back(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, tag: str
) -> None:
    task_id = crm.create("tasks", ALICE, {"subject": f"Call back {tag}", "percentcomplete": 0})["activityid"]
    item: Task = mailboxes.one(ALICE, "tasks", timeout=30, subject=f"Call back {tag}")
    assert item.categories == [TRACKING_CATEGORY]

    item.categories = ["Red"]  # the user untracks it in Outlook, keeping a category of their own
    item.save(update_fields=["categories"])
    item.percent_complete = Decimal(50)
    item.save(update_fields=["percent_complete"])

    def from_outlook() -> list[dict[str, Any]]:
        return decisions(stack, lambda d: d["exchange_id"] == item.id and d["source"]["system"] == "exchange")

    def edit_seen() -> list[dict[str, Any]] | None:
        found = from_outlook()  # the two saves may be captured as one change
        outcomes = [(o["field"], o["reason"]) for d in found for o in d["outcomes"]]
        edited = ("percentcomplete", "untracked") in outcomes
        return found if edited else None

    untracked = eventually(edit_seen, timeout=20, what="the Outlook edit decided as untracked")
    assert all(reasons(d) == [("crm", "untracked")] for d in untracked), [d["notes"] for d in untracked]

    crm.update("tasks", task_id, ALICE, {"subject": f"Call back later {tag}"})

    def subject_from_crm(d: dict[str, Any]) -> bool:
        changed = {o["field"] for o in d["outcomes"] if o["reason"] != "unchanged"}
        from_crm = d["crm_id"] == task_id and d["source"]["system"] == "crm" and d["op"] == "update"
        return bool(from_crm and "subject" in changed)

    (crm_edit,) = eventually(lambda: decisions(stack, subject_from_crm), timeout=20, what="the CRM edit's decision")
    assert reasons(crm_edit) == [("exchange", "untracked")]
    item.refresh()
    assert item.subject == f"Call back {tag}" and item.categories == ["Red"]
    assert (crm.get("tasks", task_id) or {}).get("percentcomplete") == 0

    item.categories = ["Red", TRACKING_CATEGORY]  # tracked again: the Outlook item as it is now reaches CRM
    item.save(update_fields=["categories"])
    eventually(
        lambda: (crm.get("tasks", task_id) or {}).get("percentcomplete") == 50, timeout=20, what="sync resumed"
    )
