"""The recurrence attributes of a recurring appointment: their types and ranges, as the entity reference gives
them (pure, no I/O). A value outside them is a 400 and nothing is stored, as Dataverse refuses it.

Only the shapes are checked; whether a pattern holds together (a weekly pattern without days) is the
client's concern, as it is in Dynamics, which accepts such a series and expands no instance from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from infra.sandbox.crm.odata import INVALID_ARGUMENT, bad_request

Row = dict[str, Any]
ENTITY = "recurringappointmentmaster"
# Integers and picklists: (low, high); picklists are the documented option values.
RANGES = {
    "recurrencepatterntype": (0, 3),  # Daily, Weekly, Monthly, Yearly
    "interval": (1, 1000),
    "daysofweekmask": (1, 127),  # Sunday 1, Monday 2 ... Saturday 64
    "dayofmonth": (1, 31),
    "instance": (1, 5),  # First ... Fourth, Last
    "monthofyear": (0, 12),  # 0 "Invalid Month Of Year", 1 January ... 12 December
    "firstdayofweek": (0, 6),
    "patternendtype": (1, 3),  # No End Date, Occurrences, Pattern End Date
    "occurrences": (1, 999),
    "duration": (0, 2147483647),
}
BOOLEANS = frozenset({"isnthmonthly", "isnthyearly", "isweekdaypattern", "isalldayevent"})
DATETIMES = frozenset({"patternstartdate", "patternenddate", "starttime", "endtime"})


def _refuse(name: str, value: Any, expected: str) -> None:
    raise bad_request(f"A validation error occurred. The value {value!r} of '{name}' on record of type '{ENTITY}' "
                      f"is not valid: expected {expected}.", INVALID_ARGUMENT)  # fmt: skip


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def check_recurrence_values(logical_name: str, row: Row) -> None:
    """A 400 naming the first recurrence attribute of `row` whose value has the wrong type or range."""
    if logical_name != ENTITY:
        return
    for name, (low, high) in RANGES.items():
        value = row.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            _refuse(name, value, f"a whole number {low}-{high}")
    for name in BOOLEANS:
        if row.get(name) is not None and not isinstance(row[name], bool):
            _refuse(name, row[name], "true or false")
    for name in DATETIMES:
        value = row.get(name)
        if value is not None and not (isinstance(value, str) and _is_datetime(value)):
            _refuse(name, value, "an ISO 8601 date or date and time")
