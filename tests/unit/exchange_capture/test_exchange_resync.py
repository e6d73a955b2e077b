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


PHONECALL = {"subject": "Call", "status": {}, "actualend": None, "@version": "CK4"}  # a task's fields but one


@pytest.mark.parametrize(
    ("folder", "snapshot", "linked", "expected"),
    [
        ("contacts", CONTACT, None, True),  # a captured snapshot: its fields say its folder
        ("calendar", CONTACT, None, False),
        ("calendar", APPOINTMENT, None, True),
        ("tasks", APPOINTMENT, None, False),
        ("tasks", TASK, None, True),
        ("tasks", PHONECALL, None, True),  # a phone call's task is of the tasks folder
        ("calendar", TASK, None, False),
        ("tasks", SHARED, None, False),  # fits two folders: left alone rather than guessed
        ("calendar", SHARED, None, False),
        ("tasks", SHARED, "tasks", True),  # a link names the entity (so the folder), whatever the fields
        ("calendar", SHARED, "tasks", False),
        ("contacts", APPOINTMENT, "contacts", True),
        ("contacts", NO_FIELDS, None, False),  # nothing to tell by
        ("tasks", NO_FIELDS, "tasks", True),
    ],
)
def test_in_folder(folder: str, snapshot: dict[str, Any], linked: str | None, expected: bool) -> None:
    assert in_folder(folder, snapshot, linked, FIELD_SETS) is expected


def test_vanished_are_this_folders_known_items_the_read_lacks_whose_snapshot_still_exists() -> None:
    candidates = [
        ("c-kept", CONTACT, None),  # read again: not vanished
        ("c-gone", CONTACT, None),
        ("c-linked-gone", SHARED, "contacts"),
        ("a-other-folder", APPOINTMENT, None),  # another folder's item is not this read's to judge
        ("c-forgotten", None, "contacts"),  # the snapshot went meanwhile (fieldsync deleted it itself)
        ("c-ambiguous", SHARED, None),
    ]
    assert vanished("contacts", candidates, {"c-kept", "c-new"}, FIELD_SETS) == ["c-gone", "c-linked-gone"]
    assert vanished("contacts", candidates, {"c-kept", "c-gone", "c-linked-gone"}, FIELD_SETS) == []
    assert vanished("calendar", candidates, set(), FIELD_SETS) == ["a-other-folder"]


def test_every_captured_snapshot_belongs_to_exactly_one_folder() -> None:
    """A capture's snapshot holds every mapped field of its entity (to_canonical): the folders' shapes never
    overlap, and every entity's snapshot fits its own folder only."""
    from shared.exchange.client import FOLDERS
    from shared.exchange.fields import CODECS

    for folder, names in FIELD_SETS.items():
        snapshot = dict.fromkeys(names)
        assert [f for f in FIELD_SETS if in_folder(f, snapshot, None, FIELD_SETS)] == [folder]
    for entity, codecs in CODECS.items():
        assert [f for f in FIELD_SETS if in_folder(f, dict.fromkeys(codecs), None, FIELD_SETS)] == [FOLDERS[entity]]
