"""The security tables crm_capture reads, and which of their rows changed since the last round (pure).

Each table is read one of two ways. A table the Web API tracks changes of is followed through its delta link,
like the records: a read returns the rows changed since and the ids of the rows deleted since; nothing changed
means nothing read. The secured attributes (`attributemetadata`: one row per attribute with `IsSecured`, read
from `EntityDefinitions(LogicalName='<entity>')/Attributes` of every synced entity) have no change tracking:
they are read whole, and a fingerprint of the rows (a hash of the sorted rows) skips the table when it is the
one the last round stored; so is a table whose change tracking the organisation has switched off
(security_reader.py). Either way the rows are compared with the rows last published, so a row written
without a change of its values publishes nothing.

A published row is the row as the Web API returns it without its OData annotations (`@odata.etag`). A deleted
row is published with the row last seen (so the policy knows what went: the share's record, the membership's
user and team). Rows that cannot matter are kept out: shares of records of entities fieldsync does not sync, rows
of userqueries and savedqueries that are no sync filters (querytype 256) of a synced entity, and
attributes that are not secured (an attribute no longer secured is a deleted `attributemetadata` row, published
with `IsSecured` false).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.events import SecurityChanged
from shared.filter_set import FILTER_TABLES, SAVED_QUERIES, USER_QUERIES, is_filter_row

Row = dict[str, Any]
ATTRIBUTE_METADATA = "attributemetadata"
SHARES = "principalobjectaccessset"
METADATA_COLUMNS = ("EntityLogicalName", "LogicalName", "IsSecured")
METADATA_KEY = "MetadataId"


@dataclass(frozen=True)
class SecurityTable:
    """A table as the Web API serves it: its entity set name, its primary key, whether changes are tracked."""

    name: str
    key: str
    tracked: bool = True


# The tables of infra/sandbox/crm/security_state.py SECURITY_TABLES (and the privileges their names come from).
TABLES: tuple[SecurityTable, ...] = (
    SecurityTable("privileges", "privilegeid"),
    SecurityTable("businessunits", "businessunitid"),
    SecurityTable("systemusers", "systemuserid"),
    SecurityTable("teams", "teamid"),
    SecurityTable("roles", "roleid"),
    SecurityTable("roleprivilegescollection", "roleprivilegeid"),
    SecurityTable("systemuserrolescollection", "systemuserroleid"),
    SecurityTable("teamrolescollection", "teamroleid"),
    SecurityTable("teammemberships", "teammembershipid"),
    SecurityTable(SHARES, "principalobjectaccessid"),
    SecurityTable("fieldpermissions", "fieldpermissionid"),
    SecurityTable("systemuserprofilescollection", "systemuserprofileid"),
    SecurityTable("teamprofilescollection", "teamprofileid"),
    SecurityTable(ATTRIBUTE_METADATA, METADATA_KEY, tracked=False),
    # The sync filters: read with the security tables, so a filter change reaches the policy in a round, ordered
    # with the security it is evaluated under (shared.filter_set).
    SecurityTable(USER_QUERIES, "userqueryid"),
    SecurityTable(SAVED_QUERIES, "savedqueryid"),
)


@dataclass(frozen=True)
class TableRead:
    """What one read of a table returned: rows by primary key (lower case; kept, without annotations), deleted
    ids, and where to resume.

    `whole`: the read returned every row (a table without change tracking, or tracking started afresh), so a
    stored row the read lacks was deleted. `cursor`: the delta link to store; `fingerprint`: of a whole read."""

    table: SecurityTable
    rows: Mapping[str, Row] = field(default_factory=dict)
    deleted: tuple[str, ...] = ()
    whole: bool = False
    cursor: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class RowChange:
    """One row to publish: the row as read now, or (deleted) as last seen."""

    table: str
    principal: str
    row: Row
    deleted: bool = False


def clean(row: Row) -> Row:
    """The row without OData annotations (`@odata.etag`, `@odata.context`): they are no data."""
    return {key: value for key, value in row.items() if not key.startswith("@")}


def metadata_row(definition: Row) -> Row:
    """An attribute definition as an `attributemetadata` row (its key, MetadataId, is the row's principal)."""
    return {column: definition.get(column) for column in METADATA_COLUMNS}


def keyed(table: SecurityTable, rows: Iterable[Row], synced: frozenset[str]) -> dict[str, Row]:
    """The rows a read returned, without annotations, by primary key (lower case), the kept ones only."""
    found: dict[str, Row] = {}
    for raw in rows:
        row = clean(raw)
        if row.get(table.key) and kept(table.name, row, synced):
            found[str(row[table.key]).lower()] = row
    return found


def kept(table: str, row: Row, synced: frozenset[str]) -> bool:
    """Only rows that can change what fieldsync syncs: shares of synced entities, secured attributes."""
    if table == SHARES:
        return row.get("objecttypecode") in synced
    if table == ATTRIBUTE_METADATA:
        return row.get("IsSecured") is True and row.get("EntityLogicalName") in synced
    if table in FILTER_TABLES:
        return is_filter_row(table, row, synced)
    return True


def fingerprint(rows: Iterable[Row]) -> str:
    """A hash of the rows whatever their order: equal tables have equal fingerprints."""
    lines = sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def diff_table(read: TableRead, stored: Mapping[str, Row]) -> list[RowChange]:
    """The rows of `read` that differ from the stored ones, then the deleted rows, each in key order."""
    table, seen = read.table, read.rows
    changes = [RowChange(table.name, p, row) for p, row in sorted(seen.items()) if stored.get(p) != row]
    gone = set(stored) - set(seen) if read.whole else {p.lower() for p in read.deleted} & set(stored) - set(seen)
    for principal in sorted(gone):
        last = stored[principal]
        if table.name == ATTRIBUTE_METADATA:
            last = {**last, "IsSecured": False}
        changes.append(RowChange(table.name, principal, last, deleted=True))
    return changes


def unchanged(read: TableRead, stored_fingerprint: str | None) -> bool:
    """Nothing to compare: a tracked read with no entries, or a whole read with the stored fingerprint."""
    if read.table.tracked and not read.whole:
        return not read.rows and not read.deleted
    return read.fingerprint is not None and read.fingerprint == stored_fingerprint


def round_events(
    changes: list[RowChange], round_number: int, now: datetime, ids: Iterable[str]
) -> list[SecurityChanged]:
    """The round's SecurityChanged events in order (one id per change), the last one marked `last_in_round`."""
    events = []
    for index, (change, event_id) in enumerate(zip(changes, ids, strict=True)):
        events.append(
            SecurityChanged(
                event_id=event_id,
                occurred_at=now,
                principal=change.principal,
                table=change.table,
                row=change.row,
                deleted=change.deleted,
                round=round_number,
                last_in_round=index == len(changes) - 1,
            )
        )
    return events
