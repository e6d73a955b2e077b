"""security_tables: which rows of a security table changed, are kept, and how a round is numbered and ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.crm_capture.security_tables import (
    ATTRIBUTE_METADATA,
    SHARES,
    TABLES,
    RowChange,
    SecurityTable,
    TableRead,
    clean,
    diff_table,
    fingerprint,
    kept,
    keyed,
    metadata_row,
    round_events,
    unchanged,
)
from shared.filter_set import FILTER_TABLES

T0 = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
ROLES = SecurityTable("roles", "roleid")
METADATA = SecurityTable(ATTRIBUTE_METADATA, "MetadataId", tracked=False)
SYNCED = frozenset({"contact", "task"})


def role(role_id: str, name: str) -> dict[str, Any]:
    return {"roleid": role_id, "name": name}


def test_the_tables_are_the_sandboxs_security_tables_with_their_keys() -> None:
    from infra.sandbox.crm.security_sets import security_sets
    from infra.sandbox.crm.security_state import SECURITY_TABLES

    names = {t.name for t in TABLES}
    assert names == {*SECURITY_TABLES, "privileges", *FILTER_TABLES}  # the sync filters are read with them
    sets = security_sets()
    for table in TABLES:
        if table.name != ATTRIBUTE_METADATA and table.name not in FILTER_TABLES:
            assert table.tracked and sets[table.name].key == table.key, table
    assert [t.name for t in TABLES if not t.tracked] == [ATTRIBUTE_METADATA]


def test_the_sync_filter_tables_are_read_with_their_keys_and_only_filters_are_kept() -> None:
    keys = {t.name: t.key for t in TABLES if t.name in FILTER_TABLES}
    assert keys == {"userqueries": "userqueryid", "savedqueries": "savedqueryid"}
    row = {"userqueryid": "q", "querytype": 256, "returnedtypecode": "contact"}
    assert kept("userqueries", row, SYNCED)
    assert not kept("userqueries", {**row, "querytype": 0}, SYNCED)  # a saved view, not a sync filter
    assert not kept("userqueries", {**row, "returnedtypecode": "account"}, SYNCED)
    assert not kept("savedqueries", {"savedqueryid": "t", "querytype": 131072, "returnedtypecode": "contact"}, SYNCED)


def test_clean_drops_odata_annotations_and_keyed_lowers_the_keys() -> None:
    raw = {"@odata.etag": 'W/"3"', "roleid": "ABC", "name": "Sales"}
    assert clean(raw) == {"roleid": "ABC", "name": "Sales"}
    assert keyed(ROLES, [raw, {"name": "no key"}], SYNCED) == {"abc": {"roleid": "ABC", "name": "Sales"}}


@pytest.mark.parametrize(
    ("table", "row", "keep"),
    [
        (SHARES, {"objecttypecode": "contact"}, True),
        (SHARES, {"objecttypecode": "account"}, False),
        (ATTRIBUTE_METADATA, {"EntityLogicalName": "contact", "IsSecured": True}, True),
        (ATTRIBUTE_METADATA, {"EntityLogicalName": "contact", "IsSecured": False}, False),
        (ATTRIBUTE_METADATA, {"EntityLogicalName": "account", "IsSecured": True}, False),
        ("roles", {"name": "anything"}, True),
    ],
)
def test_kept_rows_are_those_that_can_change_what_syncs(table: str, row: dict[str, Any], keep: bool) -> None:
    assert kept(table, row, SYNCED) == keep


def test_metadata_row_is_the_contracts_three_columns() -> None:
    definition = {"@odata.type": "#x", "MetadataId": "m1", "LogicalName": "jobtitle", "EntityLogicalName": "contact",
                  "IsSecured": True}  # fmt: skip
    assert metadata_row(definition) == {"EntityLogicalName": "contact", "LogicalName": "jobtitle", "IsSecured": True}


def test_a_fingerprint_ignores_order_and_sees_any_value() -> None:
    a, b = role("r1", "A"), role("r2", "B")
    assert fingerprint([a, b]) == fingerprint([b, a])
    assert fingerprint([a, b]) != fingerprint([a, role("r2", "C")])
    assert fingerprint([]) != fingerprint([a])


def test_a_tracked_read_publishes_changed_rows_and_deleted_ones_as_last_seen() -> None:
    stored = {"r1": role("r1", "A"), "r2": role("r2", "B"), "r3": role("r3", "C")}
    read = TableRead(ROLES, {"r1": role("r1", "A"), "r2": role("r2", "B2"), "r4": role("r4", "D")},
                     deleted=("R3", "r9"))  # fmt: skip
    assert diff_table(read, stored) == [
        RowChange("roles", "r2", role("r2", "B2")),
        RowChange("roles", "r4", role("r4", "D")),
        RowChange("roles", "r3", role("r3", "C"), deleted=True),  # r9 was never seen: nothing to say
    ]


def test_a_whole_read_reports_every_stored_row_it_lacks_deleted() -> None:
    stored = {"r1": role("r1", "A"), "r2": role("r2", "B")}
    read = TableRead(ROLES, {"r1": role("r1", "A")}, whole=True)
    assert diff_table(read, stored) == [RowChange("roles", "r2", role("r2", "B"), deleted=True)]
    assert diff_table(TableRead(ROLES, {"r1": role("r1", "A")}), stored) == []  # tracked: no tombstone, no delete


def test_an_attribute_no_longer_secured_is_deleted_with_is_secured_false() -> None:
    secured = {"EntityLogicalName": "contact", "LogicalName": "jobtitle", "IsSecured": True}
    [change] = diff_table(TableRead(METADATA, {}, whole=True, fingerprint="f2"), {"m1": secured})
    assert change == RowChange(ATTRIBUTE_METADATA, "m1", {**secured, "IsSecured": False}, deleted=True)


@pytest.mark.parametrize(
    ("read", "stored_fingerprint", "skip"),
    [
        (TableRead(ROLES), None, True),
        (TableRead(ROLES, deleted=("r1",)), None, False),
        (TableRead(ROLES, {"r1": role("r1", "A")}), None, False),
        (TableRead(ROLES, whole=True), None, False),  # tracking afresh: compare, stored rows may be gone
        (TableRead(METADATA, whole=True, fingerprint="f1"), "f1", True),
        (TableRead(METADATA, whole=True, fingerprint="f1"), "f0", False),
        (TableRead(METADATA, whole=True, fingerprint="f1"), None, False),
    ],
)
def test_unchanged_tables_are_skipped(read: TableRead, stored_fingerprint: str | None, skip: bool) -> None:
    assert unchanged(read, stored_fingerprint) == skip


def test_a_round_numbers_its_events_in_order_and_marks_the_last() -> None:
    changes = [RowChange("roles", "r1", role("r1", "A")), RowChange("teams", "t1", {"teamid": "t1"}, deleted=True)]
    events = round_events(changes, 7, T0, ["e1", "e2"])
    assert [(e.event_id, e.table, e.principal, e.deleted, e.round, e.last_in_round) for e in events] == [
        ("e1", "roles", "r1", False, 7, False),
        ("e2", "teams", "t1", True, 7, True),
    ]
    assert events[0].row == role("r1", "A") and events[0].occurred_at == T0
    assert round_events([], 8, T0, []) == []
    with pytest.raises(ValueError):
        round_events(changes, 7, T0, ["only one id"])
