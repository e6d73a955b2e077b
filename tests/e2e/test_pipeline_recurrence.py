"""Recurring appointments through the whole embedded stack, public interfaces only: a weekly series created in CRM
(Web API) appears in the owner's Outlook calendar (exchangelib) as a series with the same pattern, and a change of
the pattern made in Outlook reaches the CRM record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from exchangelib import CalendarItem
from exchangelib.recurrence import (
    DailyPattern,
    EndDatePattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    WeeklyPattern,
)

from shared.events import TRACKING_CATEGORY
from tests.e2e.conftest import ALICE, Crm, Mailboxes, settled
from tests.support import eventually

pytestmark = pytest.mark.e2e

MONDAY, WEDNESDAY, TUESDAY, THURSDAY = 2, 8, 4, 16  # Dynamics' daysofweekmask bits (Sunday 1 ... Saturday 64)


def next_monday_at_ten() -> datetime:
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


def weekly_series(tag: str, first: datetime) -> dict[str, Any]:
    return {
        "subject": f"Weekly sync {tag}", "location": "Room 7", "organizer": ALICE, "requiredattendees": [ALICE],
        "optionalattendees": [], "recurrencepatterntype": 1, "interval": 1, "daysofweekmask": MONDAY | WEDNESDAY,
        "firstdayofweek": 1, "patternstartdate": first.date().isoformat(), "patternendtype": 2, "occurrences": 10,
        "starttime": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endtime": (first + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": 30,
        "isalldayevent": False,
    }  # fmt: skip


def test_a_weekly_series_reaches_outlook_and_an_outlook_pattern_change_reaches_crm(
    crm: Crm, mailboxes: Mailboxes, tag: str
) -> None:
    first = next_monday_at_ten()
    record = crm.create("recurringappointmentmasters", ALICE, weekly_series(tag, first))["activityid"]

    item: CalendarItem = mailboxes.one(ALICE, "calendar", timeout=30, subject=f"Weekly sync {tag}")
    assert item.type == "RecurringMaster"
    assert item.recurrence == Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[1, 3], first_day_of_week=1),
        boundary=NumberedPattern(start=first.date(), number=10),
    )
    assert (item.start.timestamp(), item.end.timestamp()) == (first.timestamp(), (first + timedelta(minutes=30))
                                                              .timestamp())  # fmt: skip
    assert item.location == "Room 7" and item.categories == [TRACKING_CATEGORY]
    settled(lambda: (crm.get("recurringappointmentmasters", record) or {}).get("versionnumber"))

    # In Outlook: every other week on Tuesday and Thursday, until the end of next quarter.
    until = date(first.year + 1, 3, 31)
    item.refresh()
    item.recurrence = Recurrence(pattern=WeeklyPattern(interval=2, weekdays=[2, 4], first_day_of_week=1),
                                 boundary=EndDatePattern(start=first.date(), end=until))  # fmt: skip
    item.save(update_fields=["recurrence"])

    wanted = {"recurrencepatterntype": 1, "interval": 2, "daysofweekmask": TUESDAY | THURSDAY, "patternendtype": 3,
              "patternenddate": until.isoformat(), "occurrences": None, "firstdayofweek": 1}  # fmt: skip

    def crm_pattern() -> dict[str, Any]:
        row = crm.get("recurringappointmentmasters", record) or {}
        return {name: row.get(name) for name in wanted}

    eventually(lambda: crm_pattern() == wanted, timeout=30, what="the Outlook pattern change in CRM")
    row = crm.get("recurringappointmentmasters", record) or {}
    assert row["subject"] == f"Weekly sync {tag}" and row["patternstartdate"] == first.date().isoformat()
    # And nothing bounces back: the series in Outlook keeps the pattern it was given.
    settled(lambda: (mailboxes.find(ALICE, "calendar", subject=f"Weekly sync {tag}") or [None])[0].changekey)
    (after,) = mailboxes.find(ALICE, "calendar", subject=f"Weekly sync {tag}")
    assert after.recurrence == item.recurrence


def test_a_series_made_and_tracked_in_outlook_becomes_a_crm_recurring_appointment(
    crm: Crm, mailboxes: Mailboxes, tag: str
) -> None:
    first = next_monday_at_ten() + timedelta(hours=4)
    account = mailboxes.account(ALICE)
    CalendarItem(account=account, folder=account.calendar, subject=f"Untracked series {tag}", start=first,
                 end=first + timedelta(hours=1), recurrence=Recurrence(pattern=DailyPattern(interval=1),
                                                                        start=first.date())).save()  # fmt: skip
    CalendarItem(
        account=account, folder=account.calendar, subject=f"Monthly review {tag}", start=first,
        end=first + timedelta(hours=1), categories=[TRACKING_CATEGORY],
        recurrence=Recurrence(pattern=RelativeMonthlyPattern(interval=1, weekday=1, week_number=1),
                              boundary=NumberedPattern(start=first.date(), number=6)),
    ).save()  # fmt: skip

    (row,) = eventually(lambda: crm.find("recurringappointmentmasters", "subject", f"Monthly review {tag}"),
                        timeout=30, what="the tracked Outlook series in CRM")  # fmt: skip
    assert {name: row[name] for name in ("recurrencepatterntype", "isnthmonthly", "instance", "daysofweekmask",
                                         "patternendtype", "occurrences", "duration")} == {
        "recurrencepatterntype": 2, "isnthmonthly": True, "instance": 1, "daysofweekmask": MONDAY,
        "patternendtype": 2, "occurrences": 6, "duration": 60}  # fmt: skip
    # A series, never a single appointment; and the untracked one (saved first, same folder) stays in Outlook.
    assert crm.find("appointments", "subject", f"Monthly review {tag}") == []
    assert crm.find("recurringappointmentmasters", "subject", f"Untracked series {tag}") == []


def test_the_seeded_weekly_series_is_a_series_in_its_owners_calendar(mailboxes: Mailboxes) -> None:
    series: CalendarItem = mailboxes.one(ALICE, "calendar", timeout=30, subject="Weekly sync (alice)")
    assert series.type == "RecurringMaster" and series.categories == [TRACKING_CATEGORY]
    assert series.recurrence.pattern == WeeklyPattern(interval=1, weekdays=[1], first_day_of_week=1)
    assert series.recurrence.boundary.number == 10
