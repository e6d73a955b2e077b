"""A calendar item's Recurrence element: checked as EWS checks it, dates kept as EWS returns them (pure, no I/O).

EWS's RecurrenceType is one pattern (DailyRecurrence, WeeklyRecurrence, AbsoluteMonthlyRecurrence,
RelativeMonthlyRecurrence, AbsoluteYearlyRecurrence, RelativeYearlyRecurrence) followed by one range
(NoEndRecurrence, EndDateRecurrence, NumberedRecurrence). A malformed one is refused with
ErrorSchemaValidation, a well-formed one that describes no series with ErrorCalendarInvalidRecurrence, and
nothing is stored. Range dates are answered as Exchange answers them under a UTC time zone context,
`YYYY-MM-DDZ`, which exchangelib reads as dates. The item's CalendarItemType follows: RecurringMaster while it
has a Recurrence, Single otherwise. Occurrences and exceptions are not modelled (the sync leaves them alone).
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from infra.sandbox.exchange.soap import EwsError, T, t

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
DAY_SETS = (*DAYS, "Day", "Weekday", "WeekendDay")
INDEXES = ("First", "Second", "Third", "Fourth", "Last")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip
# Each pattern's children in schema order: (element, kind, low, high) with kind int, days, day, index or month.
PATTERNS: dict[str, tuple[tuple[str, str, int, int], ...]] = {
    "DailyRecurrence": (("Interval", "int", 1, 999),),
    "WeeklyRecurrence": (("Interval", "int", 1, 99), ("DaysOfWeek", "days", 0, 0), ("FirstDayOfWeek", "day", 0, 0)),
    "AbsoluteMonthlyRecurrence": (("Interval", "int", 1, 99), ("DayOfMonth", "int", 1, 31)),
    "RelativeMonthlyRecurrence": (("Interval", "int", 1, 99), ("DaysOfWeek", "dayset", 0, 0),
                                  ("DayOfWeekIndex", "index", 0, 0)),
    "AbsoluteYearlyRecurrence": (("DayOfMonth", "int", 1, 31), ("Month", "month", 0, 0)),
    "RelativeYearlyRecurrence": (("DaysOfWeek", "dayset", 0, 0), ("DayOfWeekIndex", "index", 0, 0),
                                 ("Month", "month", 0, 0)),
}  # fmt: skip
RANGES = {
    "NoEndRecurrence": ("StartDate",),
    "EndDateRecurrence": ("StartDate", "EndDate"),
    "NumberedRecurrence": ("StartDate", "NumberOfOccurrences"),
}
OPTIONAL = {"FirstDayOfWeek"}  # Exchange takes the mailbox's first day of the week when it is left out
CHOICES = {"day": DAYS, "dayset": DAY_SETS, "index": INDEXES, "month": MONTHS}


def _invalid(text: str) -> EwsError:
    return EwsError("ErrorCalendarInvalidRecurrence", text)


def _schema(text: str) -> EwsError:
    return EwsError("ErrorSchemaValidation", text)


def _children(elem: etree._Element) -> list[etree._Element]:
    return [c for c in elem if isinstance(c.tag, str)]


def _check_value(element: etree._Element, name: str, kind: str, low: int, high: int) -> None:
    text = (element.text or "").strip()
    if kind == "int":
        if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
            raise _invalid(f"{name} must be {low}-{high}, got {text!r}.")
    elif kind == "days":
        days = text.split()
        if not days or any(day not in DAYS for day in days):
            raise _schema(f"DaysOfWeek of a weekly recurrence lists days of the week, got {text!r}.")
    elif text not in CHOICES[kind]:
        raise _schema(f"{name} must be one of {', '.join(CHOICES[kind])}, got {text!r}.")


def _check_pattern(pattern: etree._Element) -> None:
    name = etree.QName(pattern).localname
    given = {etree.QName(c).localname: c for c in _children(pattern)}
    expected = PATTERNS[name]
    unknown = set(given) - {child for child, *_ in expected}
    if unknown:
        raise _schema(f"{name} has no element {sorted(unknown)[0]}.")
    for child, kind, low, high in expected:
        if child not in given:
            if child in OPTIONAL:
                continue
            raise _schema(f"{name} needs {child}.")
        _check_value(given[child], child, kind, low, high)


def _range_date(element: etree._Element, name: str) -> date:
    text = (element.text or "").strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise _schema(f"{name} must be a date, got {text!r}.") from None


def _check_range(boundary: etree._Element) -> etree._Element:
    """The range with its dates in EWS's answering form; refused when it describes no occurrence."""
    name = etree.QName(boundary).localname
    given = {etree.QName(c).localname: c for c in _children(boundary)}
    if set(given) != set(RANGES[name]):
        raise _schema(f"{name} takes exactly {', '.join(RANGES[name])}.")
    checked = etree.Element(t(name))
    start = _range_date(given["StartDate"], "StartDate")
    etree.SubElement(checked, t("StartDate")).text = f"{start.isoformat()}Z"
    if name == "EndDateRecurrence":
        end = _range_date(given["EndDate"], "EndDate")
        if end < start:
            raise _invalid("The recurrence's EndDate is before its StartDate.")
        etree.SubElement(checked, t("EndDate")).text = f"{end.isoformat()}Z"
    if name == "NumberedRecurrence":
        count = given["NumberOfOccurrences"]
        _check_value(count, "NumberOfOccurrences", "int", 1, 999)
        etree.SubElement(checked, t("NumberOfOccurrences")).text = (count.text or "").strip()
    return checked


def checked_recurrence(recurrence: etree._Element) -> etree._Element:
    """A copy of a CalendarItem's Recurrence, validated, as the sandbox stores and answers it."""
    parts = _children(recurrence)
    names = [etree.QName(p).localname for p in parts]
    if len(parts) != 2 or names[0] not in PATTERNS or names[1] not in RANGES or etree.QName(parts[0]).namespace != T:
        raise _schema("A Recurrence holds one recurrence pattern followed by one recurrence range, got "
                      f"{', '.join(names) or 'nothing'}.")  # fmt: skip
    _check_pattern(parts[0])
    stored = etree.Element(t("Recurrence"))
    stored.append(etree.fromstring(etree.tostring(parts[0])))
    stored.append(_check_range(parts[1]))
    return stored


def calendar_item_type(has_recurrence: bool) -> str:
    return "RecurringMaster" if has_recurrence else "Single"
