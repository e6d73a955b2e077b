"""Which records a round of security changes may decide differently, and their refresh events (pure).

After a round, crm_capture re-publishes those records on crm.changes as they last were captured, so the policy
decides them again under the round's tables (a record a user may no longer read leaves that mailbox, a field
newly readable fills in). The choice of records, simplest correct over narrowest:

- a share (principalobjectaccessset): the one record shared or unshared (`objectid`, of entity
  `objecttypecode`), as its row says now or, for a revoked share, as it was last seen;
- a secured attribute (attributemetadata) or a field permission (fieldpermissions): every record of the one
  entity it names (`EntityLogicalName`, `entityname`);
- a sync filter (userqueries, savedqueries): not here; filter_refresh.py refreshes exactly the records whose
  membership in some user's filters changed;
- anything else (roles, privileges of roles, business units, users, teams, memberships, role and profile
  assignments): every record of every synced entity. Who may read what depends on all of them together (a
  user's unit and teams, the teams' roles, the depth of each privilege), and such changes are rare.

A refresh is an ordinary ItemChanged: op update, every synced field in `changed` with `previous` equal to it
(nothing changed in CRM), the usual context (with the record's attributes for the filters),
`context["refresh"]` and `context["security_round"]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.crm_capture.diff import Change
from services.crm_capture.security_tables import ATTRIBUTE_METADATA, SHARES, RowChange
from shared.crm.snapshot import OWNER, OWNER_MAILBOX, STATE, VERSION, Snapshot, attributes_of
from shared.filter_set import FILTER_TABLES

FIELD_PERMISSIONS = "fieldpermissions"


@dataclass(frozen=True)
class Affected:
    """Every record of `entities`, and the single `records` (entity, crm_id) besides."""

    entities: frozenset[str] = frozenset()
    records: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return bool(self.entities or self.records)


def affected(changes: Iterable[RowChange], synced: frozenset[str]) -> Affected:
    """The records the changes may decide differently (see the module docstring), among the synced entities."""
    entities: set[str] = set()
    records: set[tuple[str, str]] = set()
    for change in changes:
        row = change.row
        if change.table == SHARES:
            entity, record = row.get("objecttypecode"), row.get("objectid")
            if entity in synced and record:
                records.add((str(entity), str(record).lower()))
        elif change.table in (ATTRIBUTE_METADATA, FIELD_PERMISSIONS):
            entity = row.get("EntityLogicalName") if change.table == ATTRIBUTE_METADATA else row.get("entityname")
            if entity in synced:
                entities.add(str(entity))
        elif change.table in FILTER_TABLES:
            continue
        else:
            entities |= synced
    return Affected(frozenset(entities), frozenset(r for r in records if r[0] not in entities))


def refresh_change(snapshot: Snapshot, round_number: int) -> Change:
    """The record as last captured, every field unchanged, marked as a refresh of round `round_number`."""
    fields = {key: value for key, value in snapshot.items() if not key.startswith("@")}
    context: dict[str, Any] = {
        "ownerid": snapshot.get(OWNER),
        "owner_mailbox": snapshot.get(OWNER_MAILBOX),
        "statecode": snapshot.get(STATE),
        "attributes": attributes_of(snapshot),
        "refresh": True,
        "security_round": round_number,
    }
    version = snapshot.get(VERSION)
    return Change("update", fields, context, str(version) if version is not None else None, previous=dict(fields))
