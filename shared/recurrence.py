"""A recurring appointment's pattern in its canonical form, Dynamics' recurrence attributes (pure, no I/O).

The canonical value of the `recurrence_pattern` pair is a dict over the Dynamics attributes the catalogue lists,
in *normal form* (`normal_form`): only the attributes the pattern type uses hold values, the others are None or
False, and the derived ones are computed (`duration` from `starttime`/`endtime`, `isweekdaypattern`). Both
captures produce it, so one pattern reads the same from either side, and CRM -> EWS -> CRM is the identity.

| Dynamics (`recurrencepatterntype`, flags)     | EWS pattern                                                 |
|-----------------------------------------------|-------------------------------------------------------------|
| 0 daily, `interval` 1-999                     | DailyRecurrence Interval                                    |
| 1 weekly, `interval` 1-99, `daysofweekmask`   | WeeklyRecurrence Interval, DaysOfWeek, FirstDayOfWeek        |
| 2 monthly, `isnthmonthly` false, `dayofmonth` | AbsoluteMonthlyRecurrence Interval, DayOfMonth              |
| 2 monthly, `isnthmonthly` true, `instance`    | RelativeMonthlyRecurrence Interval, DaysOfWeek, DayOfWeekIndex |
| 3 yearly, `isnthyearly` false, `dayofmonth`   | AbsoluteYearlyRecurrence DayOfMonth, Month                  |
| 3 yearly, `isnthyearly` true, `instance`      | RelativeYearlyRecurrence DaysOfWeek, DayOfWeekIndex, Month  |

| `patternendtype`               | EWS range                                   |
|--------------------------------|---------------------------------------------|
| 1 no end date                  | NoEndRecurrence StartDate                   |
| 2 occurrences (`occurrences`)  | NumberedRecurrence StartDate, NumberOfOccurrences |
| 3 end date (`patternenddate`)  | EndDateRecurrence StartDate, EndDate        |

`daysofweekmask` is Dynamics' (and Outlook's) bit mask: Sunday 1, Monday 2, Tuesday 4 ... Saturday 64; a
relative (Nth) pattern takes one day, or every day (127: EWS `Day`), the weekdays (62: `Weekday`) or the
weekend (65: `WeekendDay`). `firstdayofweek` is 0 Sunday ... 6 Saturday (Sunday when unset). `starttime` and
`endtime` are the first occurrence's start and end, the series master's Start and End in EWS.

Not supported (RecurrenceError, so the change is dead-lettered with the reason, never written half): a yearly
pattern with an interval other than 1 (EWS yearly patterns have no interval), an interval or count outside EWS's
ranges, a relative pattern over other sets of days. Instance exceptions (one occurrence moved or cancelled) are
not part of the pattern and are left as they are on each side.

The EWS side of the tables (exchangelib's Recurrence, both ways) is shared.exchange.recurrence: this module imports
no client library, so the services that never speak EWS do not load one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

ATTRIBUTES = (
    "recurrencepatterntype", "interval", "daysofweekmask", "dayofmonth", "instance", "monthofyear",
    "firstdayofweek", "isnthmonthly", "isnthyearly", "isweekdaypattern", "patternstartdate", "patternenddate",
    "patternendtype", "occurrences", "starttime", "endtime", "duration", "isalldayevent",
)  # fmt: skip
DAILY, WEEKLY, MONTHLY, YEARLY = 0, 1, 2, 3
NO_END, OCCURRENCES, END_DATE = 1, 2, 3
EVERY_DAY, WEEKDAYS, WEEKEND = 127, 62, 65
DAY_SETS = (EVERY_DAY, WEEKDAYS, WEEKEND)  # the sets of days a relative (Nth) pattern may take besides one day
_MAX_INTERVAL = {DAILY: 999, WEEKLY: 99, MONTHLY: 99, YEARLY: 1}


class RecurrenceError(ValueError):
    """A pattern that EWS (or Dynamics) cannot hold, or a value of the wrong shape."""


def mask_bit(iso_weekday: int) -> int:  # ISO 1 Monday ... 7 Sunday -> Dynamics' mask bit (Sunday 1 ... Saturday 64)
    return 1 << (iso_weekday % 7)


def iso_days(mask: int) -> list[int]:
    return [day for day in range(1, 8) if mask & mask_bit(day)]


def _int(pattern: Mapping[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    value = pattern.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecurrenceError(f"{name} must be a whole number {low}-{high}, got {value!r}")
    return value


def _day(value: Any, name: str) -> str:
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise RecurrenceError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None


def moment(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise RecurrenceError(f"{name} must be an ISO 8601 datetime, got {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def stamp(value: datetime) -> str:  # via the timestamp: exchangelib's datetimes refuse other time zone types
    return datetime.fromtimestamp(value.timestamp(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _relative_mask(pattern: Mapping[str, Any]) -> int:
    mask = _int(pattern, "daysofweekmask", 1, 127)
    if mask not in DAY_SETS and len(iso_days(mask)) != 1:
        raise RecurrenceError(f"a relative (Nth) pattern takes one day, 127, 62 or 65 as daysofweekmask, got {mask}")
    return mask


def _times(pattern: Mapping[str, Any]) -> dict[str, Any]:
    if pattern.get("starttime") is None:
        raise RecurrenceError("starttime (the first occurrence's start) is required")
    start = moment(pattern["starttime"], "starttime")
    if pattern.get("endtime") is not None:
        end = moment(pattern["endtime"], "endtime")
    else:
        end = start + timedelta(minutes=_int(pattern, "duration", 0, 2147483647, default=0))
    if end < start:
        raise RecurrenceError("endtime is before starttime")
    minutes = int((end - start).total_seconds() // 60)
    return {"starttime": stamp(start), "endtime": stamp(end), "duration": minutes,
            "isalldayevent": bool(pattern.get("isalldayevent"))}  # fmt: skip


def _range(pattern: Mapping[str, Any]) -> dict[str, Any]:
    end_type = _int(pattern, "patternendtype", NO_END, END_DATE)
    start = _day(pattern.get("patternstartdate"), "patternstartdate")
    values: dict[str, Any] = {"patternendtype": end_type, "patternstartdate": start,
                              "patternenddate": None, "occurrences": None}  # fmt: skip
    if end_type == OCCURRENCES:
        values["occurrences"] = _int(pattern, "occurrences", 1, 999)
    elif end_type == END_DATE:
        values["patternenddate"] = _day(pattern.get("patternenddate"), "patternenddate")
        if values["patternenddate"] < start:
            raise RecurrenceError("patternenddate is before patternstartdate")
    return values


def _recurrence(pattern: Mapping[str, Any], kind: int) -> dict[str, Any]:
    """The attributes of the pattern type itself, every other one None or False."""
    interval = _int(pattern, "interval", 1, _MAX_INTERVAL[kind], default=1)
    values: dict[str, Any] = {
        "recurrencepatterntype": kind, "interval": interval, "daysofweekmask": None, "dayofmonth": None,
        "instance": None, "monthofyear": None, "firstdayofweek": None, "isnthmonthly": False, "isnthyearly": False,
        "isweekdaypattern": False,
    }  # fmt: skip
    nth = bool(pattern.get("isnthmonthly" if kind == MONTHLY else "isnthyearly"))
    if kind == WEEKLY:
        values["daysofweekmask"] = _int(pattern, "daysofweekmask", 1, 127)
        values["firstdayofweek"] = _int(pattern, "firstdayofweek", 0, 6, default=0)
        values["isweekdaypattern"] = interval == 1 and values["daysofweekmask"] == WEEKDAYS
    elif kind in (MONTHLY, YEARLY):
        if kind == YEARLY:
            values["monthofyear"] = _int(pattern, "monthofyear", 1, 12)
        values["isnthmonthly" if kind == MONTHLY else "isnthyearly"] = nth
        if nth:
            values["instance"] = _int(pattern, "instance", 1, 5)
            values["daysofweekmask"] = _relative_mask(pattern)
        else:
            values["dayofmonth"] = _int(pattern, "dayofmonth", 1, 31)
    return values


def normal_form(pattern: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical pattern: every attribute of ATTRIBUTES, only the ones its type uses set; RecurrenceError
    when EWS cannot hold it."""
    if not isinstance(pattern, Mapping):
        raise RecurrenceError(f"recurrence_pattern must be an object of its attributes, got {type(pattern).__name__}")
    kind = _int(pattern, "recurrencepatterntype", DAILY, YEARLY)
    values = {**_recurrence(pattern, kind), **_range(pattern), **_times(pattern)}
    return {name: values[name] for name in ATTRIBUTES}


def last_day_bound(pattern: Mapping[str, Any]) -> date | None:
    """A day on or after the series' last occurrence (None: it never ends), for the delete rules: the end date,
    or for a count the start plus that many whole periods of the pattern (a bound, not the exact last day)."""
    p = normal_form(pattern)
    start = date.fromisoformat(p["patternstartdate"])
    if p["patternendtype"] == END_DATE:
        return date.fromisoformat(p["patternenddate"])
    if p["patternendtype"] == OCCURRENCES:
        period = {DAILY: 1, WEEKLY: 7, MONTHLY: 31, YEARLY: 366}[p["recurrencepatterntype"]]
        return start + timedelta(days=period * p["interval"] * p["occurrences"])
    return None
