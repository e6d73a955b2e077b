"""exchange_capture.diff: creates carry every field, updates only changed ones, echoes and unknown deletes vanish."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.exchange_capture.diff import diff_delete, diff_item, known_version, to_event
from shared.exchange.snapshot import CATEGORIES, EXACT, VERSION, Echo, Observed, fields_of, snapshot_of

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MODIFIED = datetime(2026, 11, 25, 9, 59, tzinfo=UTC)


def seen(version: str = "ck1", categories: tuple[str, ...] = (), **values: object) -> Observed:
    base = {"subject": "Plan", "location": "Room 1", "prioritycode": 1}
    return Observed({**base, **values}, version, MODIFIED, categories, is_organizer=True)


def test_first_sight_is_a_create_with_every_field_and_context() -> None:
    result = diff_item(None, seen(), None)
    assert result.change is not None and result.change.op == "create"
    assert result.change.changed == {"subject": "Plan", "location": "Room 1", "prioritycode": 1}
    assert result.change.context == {"categories": [], "is_organizer": True}
    assert fields_of(result.snapshot) == result.change.changed


def test_update_carries_only_changed_fields() -> None:
    previous = snapshot_of(seen())
    result = diff_item(previous, seen("ck2", location="Room 2"), None)
    assert result.change is not None and result.change.op == "update"
    assert result.change.changed == {"location": "Room 2"}
    assert result.change.version == "ck2" and result.change.occurred_at == MODIFIED


def test_nothing_changed_says_nothing_but_keeps_the_new_snapshot() -> None:
    result = diff_item(snapshot_of(seen()), seen("ck2"), None)
    assert result.change is None and result.snapshot["@version"] == "ck2"


def test_a_field_new_to_the_snapshot_counts_as_changed() -> None:
    previous = {k: v for k, v in snapshot_of(seen()).items() if k != "location"}
    result = diff_item(previous, seen("ck2"), None)
    assert result.change is not None and result.change.changed == {"location": "Room 1"}


def test_category_change_alone_is_an_update_without_fields() -> None:
    result = diff_item(snapshot_of(seen()), seen("ck2", categories=("Tracked to Dynamics 365",)), None)
    assert result.change is not None and result.change.changed == {}
    assert result.change.context["categories"] == ["Tracked to Dynamics 365"]


@pytest.mark.parametrize(
    ("previous", "echo", "expected"),
    [
        # the applier's own create, before it stored the snapshot: dropped by ChangeKey
        (None, Echo("ck1", {"subject": "Plan"}), None),
        # a create whose ChangeKey is not ours is a user create
        (None, Echo("other", {}), "create"),
        # our write, values recorded in the echo: dropped by value fingerprint
        ("old", Echo("ck1", {"location": "Room 1"}), None),
        # a user change in the same version as our write survives (field not in the echo values)
        ("old-subject", Echo("ck1", {"location": "Room 1"}), {"subject": "Plan"}),
        # a later user change (another ChangeKey) is never dropped
        ("old", Echo("ck0", {"location": "Room 1"}), {"location": "Room 1"}),
        # an applier's write announced but not yet recorded (version unknown): its values are dropped
        ("old", Echo(None, {"location": "Room 1"}), None),
        ("old-subject", Echo(None, {"location": "Room 1"}), {"subject": "Plan"}),
    ],
)
def test_echo_table(previous: str | None, echo: Echo, expected: object) -> None:
    snapshots = {
        None: None,
        "old": snapshot_of(seen("ck0", location="Old room")),
        "old-subject": snapshot_of(seen("ck0", location="Old room", subject="Old")),
    }
    result = diff_item(snapshots[previous], seen("ck1"), echo)
    if expected is None:
        assert result.change is None
    elif expected == "create":
        assert result.change is not None and result.change.op == "create"
    else:
        assert result.change is not None and result.change.changed == expected


@pytest.mark.parametrize(
    ("known", "linked", "publishes"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_delete_table(known: bool, linked: bool, publishes: bool) -> None:
    previous = snapshot_of(seen(categories=("x",))) if known else None
    change = diff_delete(previous, linked)
    assert (change is not None) is publishes
    if change is not None:
        assert change.op == "delete" and change.changed == {}
        assert change.context["categories"] == (["x"] if known else [])


def test_event_carries_ids_version_and_times() -> None:
    change = diff_item(None, seen(), None).change
    assert change is not None
    event = to_event(change, "appointment", "a@x.test", "AAA", "crm-1", event_id="e1", now=NOW, position="s0")
    assert (event.mailbox, event.exchange_id, event.crm_id, event.entity) == ("a@x.test", "AAA", "crm-1", "appointment")
    assert event.occurred_at == MODIFIED and event.captured_at == NOW and event.version == "ck1"
    assert event.source.system == "exchange" and event.source.position == "s0"


def test_delete_event_occurred_when_seen() -> None:
    change = diff_delete({CATEGORIES: []}, linked=True)
    assert change is not None
    event = to_event(change, "task", "a@x.test", "AAA", None, event_id="e2", now=NOW, position=None)
    assert event.op == "delete" and event.occurred_at == NOW and event.crm_id is None


@pytest.mark.parametrize(
    ("snapshot", "changekey", "known"),
    [
        (snapshot_of(seen("ck1")), "ck1", True),  # as last read: nothing new to fetch
        ({"subject": "Plan", CATEGORIES: [], VERSION: "ck2", EXACT: "ck2"}, "ck2", True),  # read, then an exact write
        ({"subject": "Plan", CATEGORIES: [], VERSION: "ck2", EXACT: "ck1"}, "ck2", False),  # written over a new read
        (snapshot_of(seen("ck1")), "ck2", False),  # changed since
        ({"subject": "Plan", VERSION: "ck1", EXACT: "ck1"}, "ck1", False),  # only our create's values: never read
        (None, "ck1", False),
        (snapshot_of(seen("ck1")), None, False),  # the sync gave no ChangeKey
    ],
)
def test_known_version_only_when_the_snapshot_is_the_whole_item_at_this_changekey_with_its_read_context(
    snapshot: dict[str, object] | None, changekey: str | None, known: bool
) -> None:
    assert known_version(snapshot, changekey) is known


def test_a_change_under_fieldsyncs_own_write_keeps_the_time_it_was_made_by() -> None:
    """The user changed the location, then fieldsync wrote the subject over the item it had read: the location
    change is reported at the item time the applier read, not at fieldsync's write; and with its previous value."""
    previous = snapshot_of(seen())
    before = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    echo = Echo("ck3", {"subject": "Plan B"}, before=before.isoformat())
    result = diff_item(previous, seen("ck3", subject="Plan B", location="Room 2"), echo)
    assert result.change is not None and result.change.changed == {"location": "Room 2"}
    assert result.change.occurred_at == before and result.change.previous == {"location": "Room 1"}
    moved_on = diff_item(previous, seen("ck4", subject="Plan B", location="Room 2"), echo).change
    assert moved_on is not None and moved_on.occurred_at == MODIFIED
