"""diff: only changed fields, composites whole, owner/state changes send everything, echo dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.crm_capture.diff import diff_delete, diff_row, to_event
from shared.catalogue import load_catalogue
from shared.crm.snapshot import DELETED, Echo, snapshot_of

CATALOGUE = load_catalogue()
CONTACT = CATALOGUE.entities["contact"]
TASK = CATALOGUE.entities["task"]
OWNER, OTHER_OWNER, FIELDSYNC, USER = "owner-1", "owner-2", "fs-user", "some-user"
BASE_ROW: dict[str, Any] = {
    "contactid": "c1",
    "firstname": "Ada",
    "lastname": "Lovelace",
    "jobtitle": "Analyst",
    "address1_city": "London",
    "statecode": 0,
    "versionnumber": 10,
    "modifiedon": "2026-11-25T10:00:00Z",
    "_ownerid_value": OWNER,
    "_modifiedby_value": USER,
}


def seen(row: dict[str, Any] = BASE_ROW, mailbox: str | None = "a@x") -> dict[str, Any]:
    return snapshot_of(CONTACT, row, mailbox)


def edit(**changes: Any) -> dict[str, Any]:
    return {**BASE_ROW, "versionnumber": 11, "modifiedon": "2026-11-25T10:05:00Z", **changes}


ALL_CONTACT_FIELDS = {pair.key for pair in CONTACT.fields}


@pytest.mark.parametrize(
    ("row", "echo", "op", "keys", "origin"),
    [
        # a plain attribute: only that field
        (edit(jobtitle="Engineer"), None, "update", {"jobtitle"}, "user"),
        # one part of a composite: the whole composite
        (edit(middlename="King"), None, "update", {"fullname"}, "user"),
        (edit(address1_city="Paris"), None, "update", {"address1_composite"}, "user"),
        # nothing mapped changed (a new version only): nothing to say
        (edit(), None, None, set(), None),
        # owner or statecode changed: every field
        (edit(_ownerid_value=OTHER_OWNER), None, "update", ALL_CONTACT_FIELDS, "user"),
        (edit(statecode=1), None, "update", ALL_CONTACT_FIELDS, "user"),
        # fieldsync's own write at the recorded version: dropped
        (
            edit(jobtitle="Engineer", _modifiedby_value=FIELDSYNC),
            Echo("11", {"jobtitle": "Engineer"}),
            None,
            set(),
            None,
        ),
        # the echo version matches but another field changed before our write: only that one, as a user change
        (
            edit(jobtitle="Engineer", nickname="Countess", _modifiedby_value=FIELDSYNC),
            Echo("11", {"jobtitle": "Engineer"}),
            "update",
            {"nickname"},
            "user",
        ),
        # the applier recorded what it is about to write (no version yet): the fields holding it are dropped,
        # whoever the row says modified it
        (
            edit(jobtitle="Engineer", _modifiedby_value=FIELDSYNC),
            Echo(None, {"jobtitle": "Engineer"}),
            None,
            set(),
            None,
        ),
        (edit(jobtitle="Engineer"), Echo(None, {"jobtitle": "Engineer"}), None, set(), None),
        # ... and another field changed meanwhile is a change
        (edit(jobtitle="Engineer", nickname="C"), Echo(None, {"jobtitle": "Engineer"}), "update", {"nickname"}, "user"),
        # an older echo does not hide a newer change
        (edit(jobtitle="Engineer"), Echo("10", {"jobtitle": "Engineer"}), "update", {"jobtitle"}, "user"),
        # made with fieldsync's credentials but not what fieldsync wrote: a person's change, it syncs
        (edit(jobtitle="Engineer", _modifiedby_value=FIELDSYNC), None, "update", {"jobtitle"}, "user"),
        (
            edit(jobtitle="Engineer", _modifiedby_value=FIELDSYNC),
            Echo("10", {"jobtitle": "X"}),
            "update",
            {"jobtitle"},
            "user",
        ),
    ],
)
def test_diff_table(row: dict[str, Any], echo: Echo | None, op: str | None, keys: set[str], origin: str | None) -> None:
    result = diff_row(CONTACT, seen(), row, "a@x", echo)
    assert result.snapshot == snapshot_of(CONTACT, row, "a@x")
    if op is None:
        assert result.change is None
        return
    assert result.change is not None
    assert (result.change.op, set(result.change.changed), result.change.origin) == (op, keys, origin)
    assert result.change.version == "11"
    assert result.change.context["ownerid"] == row["_ownerid_value"]
    snapshot = seen()
    assert result.change.previous == {k: snapshot[k] for k in result.change.changed if k in snapshot}


def test_first_sight_is_a_create_with_every_field() -> None:
    change = diff_row(CONTACT, None, BASE_ROW, "a@x", None).change
    assert change is not None and change.op == "create"
    assert set(change.changed) == ALL_CONTACT_FIELDS
    # the row's CRM attributes (Web API names) ride along for the sync filters
    assert change.context == {"ownerid": OWNER, "owner_mailbox": "a@x", "statecode": 0, "attributes": BASE_ROW}


def test_first_sight_of_fieldsync_own_create_is_dropped() -> None:
    assert diff_row(CONTACT, None, BASE_ROW, "a@x", Echo("10", {})).change is None
    # announced before the POST (no version yet): dropped when the row holds what fieldsync wrote
    assert diff_row(CONTACT, None, BASE_ROW, "a@x", Echo(None, {"jobtitle": "Analyst"})).change is None
    assert diff_row(CONTACT, None, BASE_ROW, "a@x", Echo(None, {"jobtitle": "Other"})).change is not None


def test_a_row_created_with_fieldsync_credentials_and_no_caller_id_is_a_create() -> None:
    """The newcomer's contact: created with the sandbox's only credentials, no MSCRMCallerID; no echo record."""
    by_service_principal = {**BASE_ROW, "_modifiedby_value": FIELDSYNC}
    change = diff_row(CONTACT, None, by_service_principal, "a@x", None).change
    assert change is not None and change.op == "create" and change.origin == "user"


def test_owner_change_names_the_previous_mailbox() -> None:
    change = diff_row(CONTACT, seen(), edit(_ownerid_value=OTHER_OWNER), "b@x", None).change
    assert change is not None
    assert change.context["owner_mailbox"] == "b@x"
    assert change.context["previous_owner_mailbox"] == "a@x"


def test_status_written_by_fieldsync_is_not_a_state_change() -> None:
    row = {"activityid": "t1", "subject": "S", "statecode": 0, "statuscode": 2, "versionnumber": 3}
    done = {**row, "statecode": 1, "statuscode": 5, "versionnumber": 4}
    echo = Echo("4", {"status": {"statecode": 1, "statuscode": 5}})
    assert diff_row(TASK, snapshot_of(TASK, row, None), done, None, echo).change is None
    change = diff_row(TASK, snapshot_of(TASK, row, None), done, None, None).change
    assert change is not None and set(change.changed) == {pair.key for pair in TASK.fields if pair.crm_attributes}


def test_delete_carries_the_last_context_and_fieldsync_deletes_are_dropped() -> None:
    change = diff_delete(seen())
    assert change is not None and change.op == "delete" and change.changed == {}
    assert change.context == {"ownerid": OWNER, "owner_mailbox": "a@x", "statecode": 0}
    assert diff_delete(None) is not None
    assert diff_delete(seen(), Echo(DELETED, {})) is None


def test_to_event_uses_modifiedon_as_occurred_at() -> None:
    change = diff_row(CONTACT, seen(), edit(jobtitle="X"), "a@x", None).change
    assert change is not None
    now = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    event = to_event(change, "contact", "c1", event_id="e1", now=now, position="link")
    assert event.occurred_at == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
    assert (event.captured_at, event.op, event.changed, event.source.position) == (
        now,
        "update",
        {"jobtitle": "X"},
        "link",
    )
    deleted = diff_delete(None)
    assert deleted is not None
    assert to_event(deleted, "contact", "c1", event_id="e2", now=now, position=None).occurred_at == now


SIMPLE = ["jobtitle", "nickname", "department", "firstname", "address2_city", "telephone1"]
VALUES = st.one_of(st.none(), st.text(max_size=5))


@given(
    before=st.fixed_dictionaries({a: VALUES for a in SIMPLE}), after=st.fixed_dictionaries({a: VALUES for a in SIMPLE})
)
def test_property_only_changed_fields_are_emitted_with_their_new_values(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    old_row, new_row = {**BASE_ROW, **before}, {**edit(), **after}
    result = diff_row(CONTACT, seen(old_row), new_row, "a@x", None)
    old, new = snapshot_of(CONTACT, old_row, "a@x"), snapshot_of(CONTACT, new_row, "a@x")
    expected = {k for k in ALL_CONTACT_FIELDS if old.get(k) != new.get(k)}
    if not expected:
        assert result.change is None
    else:
        assert result.change is not None
        assert set(result.change.changed) == expected
        assert all(result.change.changed[k] == new[k] for k in expected)
    # replaying the same row against the new snapshot says nothing
    assert diff_row(CONTACT, result.snapshot, new_row, "a@x", None).change is None


def test_a_change_under_fieldsyncs_own_write_keeps_the_time_it_was_made_by() -> None:
    """A person changed nickname; fieldsync then wrote jobtitle over the row it had read (modifiedon moved to the
    write): the nickname change is reported at the time the applier read, not at fieldsync's write."""
    row = edit(jobtitle="Engineer", nickname="Countess")
    echo = Echo("11", {"jobtitle": "Engineer"}, before="2026-11-25T10:01:00Z")
    change = diff_row(CONTACT, seen(), row, "a@x", echo).change
    assert change is not None and set(change.changed) == {"nickname"}
    assert change.occurred_at == "2026-11-25T10:01:00Z"
    later = diff_row(CONTACT, seen(), {**row, "versionnumber": 12}, "a@x", echo).change  # changed again since
    assert later is not None and later.occurred_at == "2026-11-25T10:05:00Z"


def test_a_row_older_than_the_snapshot_is_stale_and_says_nothing() -> None:
    """An applier wrote (version 12) after the page holding version 11 was read: diffing the old row would
    report fieldsync's newer jobtitle as changed back to the old one."""
    written = {**seen(), "jobtitle": "Written", "@version": "12"}
    result = diff_row(CONTACT, written, edit(nickname="Ada"), "a@x", Echo("12", {"jobtitle": "Written"}))
    assert (result.stale, result.change, result.snapshot) == (True, None, written)
    current = diff_row(
        CONTACT,
        written,
        {**edit(jobtitle="Written", nickname="Ada"), "versionnumber": 12},
        "a@x",
        Echo("12", {"jobtitle": "Written"}),
    )
    assert not current.stale and current.change is not None and set(current.change.changed) == {"nickname"}


@pytest.mark.parametrize(
    ("row_version", "snapshot_version", "stale"),
    [(11, "12", True), (12, "12", False), (13, "12", False), (11, None, False), (None, "12", False)],
)
def test_staleness_compares_versionnumbers(row_version: int | None, snapshot_version: str | None, stale: bool) -> None:
    snapshot = {**seen(), "@version": snapshot_version}
    assert diff_row(CONTACT, snapshot, {**edit(), "versionnumber": row_version}, "a@x", None).stale is stale


def test_a_read_snapshot_is_exact_at_its_version() -> None:
    assert seen()["@exact"] == seen()["@version"] == "10"


def test_the_announcement_of_the_next_write_does_not_hide_the_record_of_the_last_one() -> None:
    """The applier recorded its jobtitle write at version 11 and announced a nickname write; the capture reads
    the row at 11: jobtitle is fieldsync's own (it was reported as a person's change when the announcement
    replaced the record), and the announced nickname is recognised once written."""
    echo = Echo("11", {"jobtitle": "Engineer"}, announced={"nickname": "Next"})
    assert diff_row(CONTACT, seen(), edit(jobtitle="Engineer"), "a@x", echo).change is None
    written = {**edit(jobtitle="Engineer", nickname="Next"), "versionnumber": 12}
    after = {**seen(), "jobtitle": "Engineer", "@version": "11"}
    assert diff_row(CONTACT, after, written, "a@x", echo).change is None
    change = diff_row(CONTACT, after, {**written, "nickname": "Person"}, "a@x", echo).change
    assert change is not None and change.changed == {"nickname": "Person"}
