"""A recurring appointment's pattern as EWS holds it: shared.recurrence's normal form <-> exchangelib's Recurrence
with the series master's Start, End and IsAllDayEvent, both ways (pure: exchangelib's item model, no I/O).

The mapping tables are in shared.recurrence's docstring; a pattern EWS cannot hold raises RecurrenceError.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from exchangelib import EWSDate, EWSDateTime
from exchangelib.ewsdatetime import UTC as EWS_UTC
from exchangelib.fields import MONTHS, WEEK_NUMBERS
from exchangelib.fields import WEEKDAYS as EWS_DAYS
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from shared.recurrence import (
    DAILY,
    END_DATE,
    EVERY_DAY,
    MONTHLY,
    NO_END,
    OCCURRENCES,
    WEEKDAYS,
    WEEKEND,
    WEEKLY,
    YEARLY,
    RecurrenceError,
    iso_days,
    mask_bit,
    moment,
    normal_form,
    stamp,
)

# EWS's DaysOfWeekType beyond the seven days (exchangelib numbers them 8, 9, 10 after Monday 1 ... Sunday 7).
_DAY_SETS = {EVERY_DAY: 8, WEEKDAYS: 9, WEEKEND: 10}


def _pattern(p: Mapping[str, Any]) -> Any:
    kind = p["recurrencepatterntype"]
    if kind == DAILY:
        return DailyPattern(interval=p["interval"])
    if kind == WEEKLY:
        first = 7 if p["firstdayofweek"] == 0 else p["firstdayofweek"]
        return WeeklyPattern(interval=p["interval"], weekdays=iso_days(p["daysofweekmask"]), first_day_of_week=first)
    nth = p["isnthmonthly"] if kind == MONTHLY else p["isnthyearly"]
    mask = p["daysofweekmask"] or 0
    weekday = _DAY_SETS.get(mask) or next(iter(iso_days(mask)), None)
    if kind == MONTHLY and nth:
        return RelativeMonthlyPattern(interval=p["interval"], weekday=weekday, week_number=p["instance"])
    if kind == MONTHLY:
        return AbsoluteMonthlyPattern(interval=p["interval"], day_of_month=p["dayofmonth"])
    if nth:
        return RelativeYearlyPattern(weekday=weekday, week_number=p["instance"], month=p["monthofyear"])
    return AbsoluteYearlyPattern(day_of_month=p["dayofmonth"], month=p["monthofyear"])


def _boundary(p: Mapping[str, Any]) -> Any:
    start = EWSDate.from_date(date.fromisoformat(p["patternstartdate"]))
    if p["patternendtype"] == OCCURRENCES:
        return NumberedPattern(start=start, number=p["occurrences"])
    if p["patternendtype"] == END_DATE:
        return EndDatePattern(start=start, end=EWSDate.from_date(date.fromisoformat(p["patternenddate"])))
    return NoEndPattern(start=start)


def _ews_datetime(text: str) -> EWSDateTime:
    u = moment(text, "time")
    return EWSDateTime(u.year, u.month, u.day, u.hour, u.minute, u.second, tzinfo=EWS_UTC)


def to_ews(pattern: Mapping[str, Any]) -> dict[str, Any]:
    """exchangelib CalendarItem attributes of a series master: `recurrence`, `start`, `end`, `is_all_day`."""
    p = normal_form(pattern)
    return {"recurrence": Recurrence(pattern=_pattern(p), boundary=_boundary(p)),
            "start": _ews_datetime(p["starttime"]), "end": _ews_datetime(p["endtime"]),
            "is_all_day": p["isalldayevent"]}  # fmt: skip


def _number(value: Any, names: tuple[str, ...]) -> Any:
    """exchangelib keeps an enum as its 1-based number once cleaned, as its name when given one: the number."""
    return names.index(value) + 1 if isinstance(value, str) and value in names else value


def _mask_of(weekday: Any) -> int:
    """exchangelib's DaysOfWeek value (1 Monday ... 7 Sunday, 8 Day, 9 Weekday, 10 WeekendDay) -> mask."""
    sets = {number: mask for mask, number in _DAY_SETS.items()}
    weekday = _number(weekday, EWS_DAYS)
    if weekday in sets:
        return sets[weekday]
    if isinstance(weekday, int) and 1 <= weekday <= 7:
        return mask_bit(weekday)
    raise RecurrenceError(f"unknown EWS DaysOfWeek {weekday!r}")


def _relative_values(pattern: Any) -> dict[str, Any]:
    return {"instance": _number(pattern.week_number, WEEK_NUMBERS), "daysofweekmask": _mask_of(pattern.weekday)}


def _pattern_values(pattern: Any) -> dict[str, Any]:
    if isinstance(pattern, DailyPattern):
        return {"recurrencepatterntype": DAILY, "interval": pattern.interval}
    if isinstance(pattern, WeeklyPattern):
        weekdays = pattern.weekdays if isinstance(pattern.weekdays, list) else [pattern.weekdays]
        weekdays = [_number(day, EWS_DAYS) for day in weekdays]
        first = _number(pattern.first_day_of_week, EWS_DAYS) or 1
        return {"recurrencepatterntype": WEEKLY, "interval": pattern.interval,
                "daysofweekmask": sum(mask_bit(day) for day in set(weekdays)), "firstdayofweek": first % 7}  # fmt: skip
    if isinstance(pattern, AbsoluteMonthlyPattern):
        return {"recurrencepatterntype": MONTHLY, "interval": pattern.interval, "dayofmonth": pattern.day_of_month}
    if isinstance(pattern, RelativeMonthlyPattern):
        return {"recurrencepatterntype": MONTHLY, "interval": pattern.interval, "isnthmonthly": True,
                **_relative_values(pattern)}
    if isinstance(pattern, AbsoluteYearlyPattern):
        return {"recurrencepatterntype": YEARLY, "interval": 1, "dayofmonth": pattern.day_of_month,
                "monthofyear": _number(pattern.month, MONTHS)}  # fmt: skip
    if isinstance(pattern, RelativeYearlyPattern):
        return {"recurrencepatterntype": YEARLY, "interval": 1, "isnthyearly": True,
                "monthofyear": _number(pattern.month, MONTHS), **_relative_values(pattern)}
    raise RecurrenceError(f"unsupported EWS recurrence pattern {type(pattern).__name__}")


def _iso(value: Any) -> str:
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _range_values(boundary: Any) -> dict[str, Any]:
    start = _iso(boundary.start)
    if isinstance(boundary, NumberedPattern):
        return {"patternendtype": OCCURRENCES, "patternstartdate": start, "occurrences": boundary.number}
    if isinstance(boundary, EndDatePattern):
        return {"patternendtype": END_DATE, "patternstartdate": start, "patternenddate": _iso(boundary.end)}
    if isinstance(boundary, NoEndPattern):
        return {"patternendtype": NO_END, "patternstartdate": start}
    raise RecurrenceError(f"unsupported EWS recurrence range {type(boundary).__name__}")


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def from_ews(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The canonical pattern of an item read through exchangelib; None for an item that does not recur."""
    recurrence = attrs.get("recurrence")
    if recurrence is None or getattr(recurrence, "pattern", None) is None:
        return None
    start, end, all_day = attrs.get("start"), attrs.get("end"), bool(attrs.get("is_all_day"))
    if all_day and isinstance(end, date) and not isinstance(end, datetime):
        end = end + timedelta(days=1)  # exchangelib reports an all-day end as the inclusive last day
    times = {"starttime": None if start is None else stamp(_as_datetime(start)),
             "endtime": None if end is None else stamp(_as_datetime(end)), "isalldayevent": all_day}  # fmt: skip
    return normal_form({**_pattern_values(recurrence.pattern), **_range_values(recurrence.boundary), **times})
