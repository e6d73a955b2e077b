"""An item of the calendar is a recurring appointment by its link or, unlinked, by being a series master
(services.exchange_capture.folder.series_or), a row per case."""

from __future__ import annotations

import pytest

from services.exchange_capture.folder import series_or

ALL = ["contact", "appointment", "task", "recurringappointmentmaster", "serviceappointment"]


@pytest.mark.parametrize(
    ("entity", "linked", "item_type", "watched", "expected"),
    [
        ("appointment", False, "Single", ALL, "appointment"),
        ("appointment", False, None, ALL, "appointment"),
        ("appointment", False, "RecurringMaster", ALL, "recurringappointmentmaster"),
        ("appointment", False, "RecurringMaster", ["appointment"], "appointment"),  # series not captured
        ("recurringappointmentmaster", True, "RecurringMaster", ALL, "recurringappointmentmaster"),  # its link
        ("recurringappointmentmaster", True, "Single", ALL, "recurringappointmentmaster"),  # the link decides
        ("appointment", True, "RecurringMaster", ALL, "appointment"),  # made recurring in Outlook: stays
        ("serviceappointment", True, "RecurringMaster", ALL, "serviceappointment"),
        ("task", False, None, ALL, "task"),
    ],
)
def test_the_link_decides_then_the_series_master_then_the_folder(
    entity: str, linked: bool, item_type: str | None, watched: list[str], expected: str
) -> None:
    assert series_or(entity, linked, item_type, watched) == expected
