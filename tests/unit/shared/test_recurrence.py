"""The recurrence mapping: every pattern type and end type both ways (tables), refusals, and the CRM -> EWS -> CRM
round trip as a property, through exchangelib's own XML."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
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
from exchangelib.util import to_xml
from exchangelib.version import EXCHANGE_2016, Version
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from shared.exchange.recurrence import from_ews, to_ews
from shared.recurrence import ATTRIBUTES, RecurrenceError, last_day_bound, normal_form

TIMES = {"starttime": "2026-12-07T09:00:00Z", "endtime": "2026-12-07T09:30:00Z"}
START = {"patternstartdate": "2026-12-07", "patternendtype": 1}


def crm(**values: Any) -> dict[str, Any]:
    return {**START, **TIMES, **values}


def full(**values: Any) -> dict[str, Any]:
    """The normal form spelled out: defaults for every attribute the pattern does not use."""
    base: dict[str, Any] = {name: None for name in ATTRIBUTES}
    base.update(isnthmonthly=False, isnthyearly=False, isweekdaypattern=False, isalldayevent=False, duration=30,
                **START, **TIMES)  # fmt: skip
    base.update(values)
    return base


# (name, Dynamics attributes, the EWS pattern exchangelib holds)
PATTERNS = [
    ("daily every 3 days", crm(recurrencepatterntype=0, interval=3), DailyPattern(interval=3)),
    ("weekly Mon+Wed every 2 weeks", crm(recurrencepatterntype=1, interval=2, daysofweekmask=2 | 8),
     WeeklyPattern(interval=2, weekdays=[1, 3], first_day_of_week=7)),
    ("weekly Sunday, week starts Monday", crm(recurrencepatterntype=1, interval=1, daysofweekmask=1, firstdayofweek=1),
     WeeklyPattern(interval=1, weekdays=[7], first_day_of_week=1)),
    ("every weekday", crm(recurrencepatterntype=1, interval=1, daysofweekmask=62),
     WeeklyPattern(interval=1, weekdays=[1, 2, 3, 4, 5], first_day_of_week=7)),
    ("monthly on day 15 every 2 months", crm(recurrencepatterntype=2, interval=2, dayofmonth=15),
     AbsoluteMonthlyPattern(interval=2, day_of_month=15)),
    ("monthly second Tuesday", crm(recurrencepatterntype=2, interval=1, isnthmonthly=True, instance=2,
                                   daysofweekmask=4), RelativeMonthlyPattern(interval=1, weekday=2, week_number=2)),
    ("monthly last weekday", crm(recurrencepatterntype=2, interval=1, isnthmonthly=True, instance=5, daysofweekmask=62),
     RelativeMonthlyPattern(interval=1, weekday=9, week_number=5)),
    ("monthly first day", crm(recurrencepatterntype=2, interval=3, isnthmonthly=True, instance=1, daysofweekmask=127),
     RelativeMonthlyPattern(interval=3, weekday=8, week_number=1)),
    ("monthly third weekend day", crm(recurrencepatterntype=2, interval=1, isnthmonthly=True, instance=3,
                                      daysofweekmask=65),
     RelativeMonthlyPattern(interval=1, weekday=10, week_number=3)),
    ("yearly on 29 February", crm(recurrencepatterntype=3, interval=1, dayofmonth=29, monthofyear=2),
     AbsoluteYearlyPattern(day_of_month=29, month=2)),
    ("yearly fourth Friday of November", crm(recurrencepatterntype=3, interval=1, isnthyearly=True, instance=4,
                                             daysofweekmask=32, monthofyear=11),
     RelativeYearlyPattern(weekday=5, week_number=4, month=11)),
]  # fmt: skip
# (name, Dynamics range attributes, the EWS range)
RANGES = [
    ("no end", {"patternendtype": 1}, NoEndPattern(start=date(2026, 12, 7))),
    ("10 occurrences", {"patternendtype": 2, "occurrences": 10}, NumberedPattern(start=date(2026, 12, 7), number=10)),
    ("until 2027-03-01", {"patternendtype": 3, "patternenddate": "2027-03-01"},
     EndDatePattern(start=date(2026, 12, 7), end=date(2027, 3, 1))),
]  # fmt: skip


def _xml_round_trip(recurrence: Recurrence) -> Recurrence:
    """What exchangelib writes and then reads back: the wire form, not only the objects."""
    text = to_xml(etree.tostring(recurrence.to_xml(version=Version(build=EXCHANGE_2016))))
    return Recurrence.from_xml(text.getroot(), account=None)


@pytest.mark.parametrize(("name", "attributes", "pattern"), PATTERNS, ids=[p[0] for p in PATTERNS])
def test_each_pattern_type_maps_to_its_ews_pattern_and_back(name: str, attributes: dict[str, Any],
                                                            pattern: Any) -> None:
    written = to_ews(attributes)
    assert written["recurrence"].pattern == pattern
    assert written["recurrence"].boundary == NoEndPattern(start=date(2026, 12, 7))
    read = from_ews({**written, "recurrence": _xml_round_trip(written["recurrence"])})
    assert read == normal_form(attributes)
    assert read == from_ews({"recurrence": Recurrence(pattern=pattern, start=date(2026, 12, 7)), **written})


@pytest.mark.parametrize(("name", "attributes", "boundary"), RANGES, ids=[r[0] for r in RANGES])
def test_each_end_type_maps_to_its_ews_range_and_back(name: str, attributes: dict[str, Any], boundary: Any) -> None:
    pattern = crm(recurrencepatterntype=0, interval=1, **attributes)
    written = to_ews(pattern)
    assert written["recurrence"].boundary == boundary
    assert from_ews({**written, "recurrence": _xml_round_trip(written["recurrence"])}) == normal_form(pattern)


def test_the_normal_form_keeps_only_what_the_pattern_type_uses() -> None:
    stray = crm(recurrencepatterntype=1, interval=1, daysofweekmask=62, dayofmonth=4, monthofyear=7, instance=2,
                isnthmonthly=True, patternendtype=2, occurrences=5, patternenddate="2027-01-01",
                duration=999)  # fmt: skip
    assert normal_form(stray) == full(recurrencepatterntype=1, interval=1, daysofweekmask=62, firstdayofweek=0,
                                      isweekdaypattern=True, patternendtype=2, occurrences=5)  # fmt: skip


def test_times_the_series_master_carries() -> None:
    written = to_ews(crm(recurrencepatterntype=0, interval=1, endtime=None, duration=45, isalldayevent=False))
    assert (written["start"].isoformat(), written["end"].isoformat()) == (
        "2026-12-07T09:00:00+00:00", "2026-12-07T09:45:00+00:00")
    read = from_ews(written)
    assert read is not None and (read["endtime"], read["duration"]) == ("2026-12-07T09:45:00Z", 45)


def test_an_all_day_series_reads_its_exclusive_end() -> None:
    attrs = {**to_ews(crm(recurrencepatterntype=0, interval=1)), "is_all_day": True,
             "start": date(2026, 12, 7), "end": date(2026, 12, 7)}  # exchangelib's inclusive all-day end  # fmt: skip
    read = from_ews(attrs)
    assert read is not None
    assert (read["starttime"], read["endtime"], read["isalldayevent"]) == (
        "2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z", True)


def test_an_item_without_recurrence_has_no_pattern() -> None:
    assert from_ews({"recurrence": None, "start": None}) is None


REFUSED = [
    ("not an object", "weekly", "object"),
    ("no pattern type", crm(), "recurrencepatterntype"),
    ("unknown pattern type", crm(recurrencepatterntype=4), "recurrencepatterntype"),
    ("yearly every 2 years", crm(recurrencepatterntype=3, interval=2, dayofmonth=1, monthofyear=1), "interval"),
    ("daily interval beyond EWS", crm(recurrencepatterntype=0, interval=1000), "interval"),
    ("weekly without days", crm(recurrencepatterntype=1, interval=1), "daysofweekmask"),
    ("relative over two days", crm(recurrencepatterntype=2, interval=1, isnthmonthly=True, instance=1,
                                   daysofweekmask=6), "one day"),
    ("instance out of range", crm(recurrencepatterntype=2, interval=1, isnthmonthly=True, instance=6,
                                  daysofweekmask=2), "instance"),
    ("day of month 0", crm(recurrencepatterntype=2, interval=1, dayofmonth=0), "dayofmonth"),
    ("month 13", crm(recurrencepatterntype=3, interval=1, dayofmonth=1, monthofyear=13), "monthofyear"),
    ("count without occurrences", crm(recurrencepatterntype=0, interval=1, patternendtype=2), "occurrences"),
    ("too many occurrences", crm(recurrencepatterntype=0, interval=1, patternendtype=2, occurrences=1000),
     "occurrences"),
    ("end date before start", crm(recurrencepatterntype=0, interval=1, patternendtype=3, patternenddate="2026-01-01"),
     "before"),
    ("unknown end type", crm(recurrencepatterntype=0, interval=1, patternendtype=4), "patternendtype"),
    ("no start date", {**crm(recurrencepatterntype=0, interval=1), "patternstartdate": None}, "patternstartdate"),
    ("no start time", {**crm(recurrencepatterntype=0, interval=1), "starttime": None}, "starttime"),
    ("end before start", crm(recurrencepatterntype=0, interval=1, endtime="2026-12-07T08:00:00Z"), "before"),
    ("a boolean interval", crm(recurrencepatterntype=0, interval=True), "interval"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "attributes", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_patterns_ews_cannot_hold_are_refused_with_the_reason(name: str, attributes: Any, reason: str) -> None:
    with pytest.raises(RecurrenceError, match=reason):
        to_ews(attributes)


def test_an_ews_range_or_pattern_dynamics_has_no_counterpart_for_is_refused() -> None:
    with pytest.raises(RecurrenceError, match="unsupported"):
        from_ews({**to_ews(crm(recurrencepatterntype=0, interval=1)), "recurrence": _Regenerating()})


class _Regenerating:
    """A pattern of another kind (as a task's regeneration is): no Dynamics counterpart."""

    pattern = object()
    boundary = NoEndPattern(start=date(2026, 12, 7))


@pytest.mark.parametrize(
    ("attributes", "bound"),
    [
        ({"patternendtype": 1}, None),
        ({"patternendtype": 3, "patternenddate": "2027-01-31"}, date(2027, 1, 31)),
        ({"patternendtype": 2, "occurrences": 4}, date(2026, 12, 7) + timedelta(days=28)),
    ],
)
def test_the_last_day_bound_of_a_weekly_series(attributes: dict[str, Any], bound: date | None) -> None:
    assert last_day_bound(crm(recurrencepatterntype=1, interval=1, daysofweekmask=2, **attributes)) == bound


# The supported subset, generated in normal form: CRM -> EWS (through exchangelib's XML) -> CRM is the identity.
_DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
_RELATIVE_MASKS = st.sampled_from([1, 2, 4, 8, 16, 32, 64, 127, 62, 65])


@st.composite
def patterns(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.integers(0, 3))
    values: dict[str, Any] = {"recurrencepatterntype": kind}
    if kind == 0:
        values["interval"] = draw(st.integers(1, 999))
    elif kind == 1:
        values.update(interval=draw(st.integers(1, 99)), daysofweekmask=draw(st.integers(1, 127)),
                      firstdayofweek=draw(st.integers(0, 6)))  # fmt: skip
    else:
        nth = draw(st.booleans())
        values["interval"] = draw(st.integers(1, 99)) if kind == 2 else 1
        values["isnthmonthly" if kind == 2 else "isnthyearly"] = nth
        if kind == 3:
            values["monthofyear"] = draw(st.integers(1, 12))
        if nth:
            values.update(instance=draw(st.integers(1, 5)), daysofweekmask=draw(_RELATIVE_MASKS))
        else:
            values["dayofmonth"] = draw(st.integers(1, 31))
    first = draw(_DAYS)
    end_type = draw(st.integers(1, 3))
    values.update(patternstartdate=first.isoformat(), patternendtype=end_type)
    if end_type == 2:
        values["occurrences"] = draw(st.integers(1, 999))
    if end_type == 3:
        values["patternenddate"] = (first + timedelta(days=draw(st.integers(0, 3000)))).isoformat()
    minute = draw(st.integers(0, 24 * 60 - 1))
    length = draw(st.integers(0, 24 * 60))
    start = f"{first.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00Z"
    values.update(starttime=start, duration=length, isalldayevent=False)
    return normal_form(values)


@given(patterns())
def test_crm_to_ews_to_crm_is_the_identity_on_the_supported_subset(pattern: dict[str, Any]) -> None:
    written = to_ews(pattern)
    read = from_ews({**written, "recurrence": _xml_round_trip(written["recurrence"])})
    assert read == pattern
    assert normal_form(pattern) == pattern  # the normal form is a fixed point
