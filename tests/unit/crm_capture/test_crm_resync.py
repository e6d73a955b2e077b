"""Which known rows an entity's full re-read reports deleted (services.crm_capture.resync)."""

from __future__ import annotations

from services.crm_capture.resync import is_reported, read_ids, vanished

A, B, C = (f"a1b2c3d4-0000-0000-0000-00000000000{n}" for n in "abc")


def test_read_ids_are_keyed_as_snapshots_are() -> None:
    rows = [{"contactid": A.upper()}, {"contactid": B}, {"contactid": None}, {"fullname": "no key"}]
    assert read_ids(rows, "contactid") == {A, B}


def test_vanished_are_known_rows_the_read_lacks_in_a_stable_order() -> None:
    assert vanished([C, A, B], {B}) == [A, C]
    assert vanished([A], {A, B}) == []  # a new row is a create, not a vanished one
    assert vanished([], {A}) == []


def test_a_vanished_row_is_reported_only_while_its_snapshot_exists() -> None:
    assert is_reported({"@version": "7"})
    assert not is_reported(None)
