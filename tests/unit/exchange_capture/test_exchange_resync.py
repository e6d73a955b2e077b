"""Which known items a folder's full re-read reports deleted (services.exchange_capture.resync), a row per case."""

from __future__ import annotations

from typing import Any

import pytest

from services.exchange_capture.loop import FIELD_SETS
from services.exchange_capture.resync import in_folder, vanished

CONTACT = {"fullname": {"firstname": "A"}, "jobtitle": None, "@version": "CK1", "@categories": []}
APPOINTMENT = {"subject": "Review", "location": "Room 1", "appointment_time": {}, "@is_organizer": True}
TASK = {"subject": "Call", "percentcomplete": 10, "status": {}, "@version": "CK2"}
SHARED = {"subject": "Written by the applier", "description": "d"}  # fields appointments and tasks share
NO_FIELDS: dict[str, Any] = {"@version": "CK3"}


@pytest.mark.parametrize(
    ("entity", "snapshot", "linked", "expected"),
    [
        ("contact", CONTACT, None, True),  # a captured snapshot: its fields say its folder
        ("appointment", CONTACT, None, False),
        ("appointment", APPOINTMENT, None, True),
        ("task", APPOINTMENT, None, False),
        ("task", TASK, None, True),
        ("appointment", TASK, None, False),
        ("task", SHARED, None, False),  # fits two entities: left alone rather than guessed
        ("appointment", SHARED, None, False),
        ("task", SHARED, "task", True),  # a link names the entity, whatever the fields
        ("appointment", SHARED, "task", False),
        ("contact", APPOINTMENT, "contact", True),
        ("contact", NO_FIELDS, None, False),  # nothing to tell by
        ("task", NO_FIELDS, "task", True),
    ],
)
def test_in_folder(entity: str, snapshot: dict[str, Any], linked: str | None, expected: bool) -> None:
    assert in_folder(entity, snapshot, linked, FIELD_SETS) is expected


def test_vanished_are_this_folders_known_items_the_read_lacks_whose_snapshot_still_exists() -> None:
    candidates = [
        ("c-kept", CONTACT, None),  # read again: not vanished
        ("c-gone", CONTACT, None),
        ("c-linked-gone", SHARED, "contact"),
        ("a-other-folder", APPOINTMENT, None),  # another folder's item is not this read's to judge
        ("c-forgotten", None, "contact"),  # the snapshot went meanwhile (fieldsync deleted it itself)
        ("c-ambiguous", SHARED, None),
    ]
    assert vanished("contact", candidates, {"c-kept", "c-new"}, FIELD_SETS) == ["c-gone", "c-linked-gone"]
    assert vanished("contact", candidates, {"c-kept", "c-gone", "c-linked-gone"}, FIELD_SETS) == []
    assert vanished("appointment", candidates, set(), FIELD_SETS) == ["a-other-folder"]


def test_every_captured_snapshot_belongs_to_exactly_one_folder() -> None:
    """A capture's snapshot holds every mapped field of its entity (to_canonical): the shapes never overlap."""
    for entity, names in FIELD_SETS.items():
        snapshot = dict.fromkeys(names)
        assert [e for e in FIELD_SETS if in_folder(e, snapshot, None, FIELD_SETS)] == [entity]
