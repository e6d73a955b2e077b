"""Readings of canonical values the delete rules need: organizer, start and end, completion, state.

Pure: no I/O, no clock (`now` is passed), no logging.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.policy.verdict import Facts
from shared.events import ItemChanged
from shared.recurrence import RecurrenceError, last_day_bound

MEETINGS = frozenset({"appointment", "recurringappointmentmaster"})  # the calendar's entities: one set of delete rules
COMPLETED = 1  # statecode of a completed task or appointment
CANCELED = 2  # statecode of a canceled appointment


def known(change: ItemChanged, facts: Facts, mailbox: str | None, key: str) -> Any:
    """The newest value known for a field: the change, then the CRM record, then the mailbox's item."""
    if key in change.changed:
        return change.changed[key]
    if key in facts.crm_values:
        return facts.crm_values[key]
    return facts.exchange_values.get(mailbox or "", {}).get(key)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _time_attribute(appointment_time: Any, attribute: str) -> datetime | None:
    return parse_time(appointment_time.get(attribute)) if isinstance(appointment_time, dict) else None


def starts_after(appointment_time: Any, now: datetime) -> bool:
    """The meeting is in the future; an unknown start is not (a delete is then withheld)."""
    start = _time_attribute(appointment_time, "scheduledstart")
    return start is not None and start > now


def ended_before(appointment_time: Any, now: datetime) -> bool | None:
    """The meeting is over (None: the end is unknown)."""
    end = _time_attribute(appointment_time, "scheduledend") or _time_attribute(appointment_time, "scheduledstart")
    return None if end is None else end < now


def series_ended(pattern: Any, now: datetime) -> bool | None:
    """A recurring series is over: its last occurrence (a day on or after it, shared.recurrence) is before today;
    False for a series without an end, None when the pattern is unknown or unreadable."""
    if not isinstance(pattern, dict):
        return None
    try:
        last = last_day_bound(pattern)
    except RecurrenceError:
        return None
    return False if last is None else last < now.date()


def meeting_ended(entity: str, change: ItemChanged, facts: Facts, mailbox: str | None, now: datetime) -> bool | None:
    """An appointment is over by its time, a recurring appointment by its pattern's range (None: unknown)."""
    if entity == "recurringappointmentmaster":
        return series_ended(known(change, facts, mailbox, "recurrence_pattern"), now)
    return ended_before(known(change, facts, mailbox, "appointment_time"), now)


def meeting_ahead(entity: str, change: ItemChanged, facts: Facts, mailbox: str | None, now: datetime) -> bool:
    """An appointment starts after now; a recurring series has occurrences to come (unknown: neither)."""
    if entity == "recurringappointmentmaster":
        return series_ended(known(change, facts, mailbox, "recurrence_pattern"), now) is False
    return starts_after(known(change, facts, mailbox, "appointment_time"), now)


def statecode(value: Any) -> int | None:
    """The statecode of a status pair (a dict over statecode/statuscode), or None when unknown."""
    if isinstance(value, dict) and isinstance(value.get("statecode"), int):
        return int(value["statecode"])
    return None


def is_completed_task(status: Any) -> bool:
    return statecode(status) == COMPLETED


def is_closed_appointment(status: Any) -> bool:
    return statecode(status) in (COMPLETED, CANCELED)
