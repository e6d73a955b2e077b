"""Which entity an item of a mailbox folder is captured as (services.exchange_capture.folder), a row per case."""

from __future__ import annotations

import pytest

from services.exchange_capture.folder import entity_of, folders_of
from shared.exchange.client import FOLDERS, NATIVE

ALL = ["contact", "appointment", "task", "phonecall", "letter", "fax", "serviceappointment"]


@pytest.mark.parametrize(
    ("folder", "linked", "watched", "expected"),
    [
        ("tasks", "phonecall", ALL, "phonecall"),  # the link names the entity
        ("tasks", "letter", ALL, "letter"),
        ("tasks", "fax", ALL, "fax"),
        ("tasks", "task", ALL, "task"),
        ("tasks", None, ALL, "task"),  # unlinked: the folder's own entity, never a phone call
        ("calendar", None, ALL, "appointment"),
        ("calendar", "serviceappointment", ALL, "serviceappointment"),
        ("contacts", None, ALL, "contact"),
        ("tasks", "phonecall", ["task"], None),  # linked to an entity not captured: left alone
        ("tasks", None, ["phonecall"], None),  # the folder's own entity is not captured
        ("calendar", "phonecall", ALL, None),  # a link of another folder's entity (moved item): not this folder's
    ],
)
def test_entity_of(folder: str, linked: str | None, watched: list[str], expected: str | None) -> None:
    assert entity_of(folder, linked, watched, NATIVE, FOLDERS) == expected


def test_one_folder_per_watched_folder_in_order() -> None:
    assert folders_of(ALL, FOLDERS) == ["contacts", "calendar", "tasks"]
    assert folders_of(["fax", "phonecall"], FOLDERS) == ["tasks"]
