"""An item of the calendar folder is a recurring appointment by its link or, unlinked, by being a series master."""

from __future__ import annotations

import pytest

from services.exchange_capture.classification import item_entity


@pytest.mark.parametrize(
    ("folder_entity", "linked", "item_type", "entity"),
    [
        ("appointment", None, "Single", "appointment"),
        ("appointment", None, None, "appointment"),
        ("appointment", None, "RecurringMaster", "recurringappointmentmaster"),
        ("appointment", "recurringappointmentmaster", "RecurringMaster", "recurringappointmentmaster"),
        ("appointment", "recurringappointmentmaster", "Single", "recurringappointmentmaster"),  # link decides
        ("appointment", "appointment", "RecurringMaster", "appointment"),  # made recurring in Outlook: stays
        ("task", None, None, "task"),
        ("contact", None, "RecurringMaster", "contact"),
    ],
)
def test_the_link_decides_then_the_series_master_then_the_folder(
    folder_entity: str, linked: str | None, item_type: str | None, entity: str
) -> None:
    assert item_entity(folder_entity, linked, item_type) == entity
