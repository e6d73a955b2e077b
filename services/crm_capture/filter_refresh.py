"""Which records a change of the sync filters moves in or out of a mailbox (pure).

A round that changes rows of `userqueries` or `savedqueries` (a filter added, edited, disabled, deleted) refreshes
exactly the records whose membership changed: for every user with a mailbox whose filters for an entity differ
before and after the round, each record of that entity (as last captured: its snapshot's attributes) is evaluated
under both; a record one of them takes and the other does not is refreshed, and no other. A record whose
membership did not change is not touched (no full resync). Read access is not asked here: a filter change does
not change it, and the policy intersects the two when it decides the refresh.

The users are those the policy scopes (shared.filter_set.identities: a systemuser with a mailbox address), with
their teams and business unit as the round leaves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.crm_capture.security_tables import Row, RowChange
from shared.fetch_match import Identity
from shared.filter_set import FILTER_TABLES, FilterSet, filter_set, takes

Rows = Mapping[str, Mapping[str, Row]]  # table -> primary key -> row
Record = tuple[str, str, Mapping[str, Any]]  # entity, crm_id, attributes
NEEDED = (*FILTER_TABLES, "systemusers", "teammemberships")  # the stored tables this module reads


def touches_filters(changes: Iterable[RowChange]) -> bool:
    return any(change.table in FILTER_TABLES for change in changes)


def after(stored: Rows, changes: Iterable[RowChange]) -> dict[str, dict[str, Row]]:
    """The stored rows with the round's changes applied (a deleted row goes)."""
    rows = {table: dict(found) for table, found in stored.items()}
    for change in changes:
        table = rows.setdefault(change.table, {})
        if change.deleted:
            table.pop(change.principal.lower(), None)
        else:
            table[change.principal.lower()] = change.row
    return rows


def filters_of(rows: Rows) -> FilterSet:
    return filter_set({table: rows.get(table, {}).values() for table in FILTER_TABLES})


def changed_scopes(before: FilterSet, now: FilterSet, users: Iterable[str], entities: Iterable[str]) -> set[
        tuple[str, str]]:  # fmt: skip
    """The (user, entity) pairs whose filters differ between the two sets."""
    return {(user, entity) for user in users for entity in entities if before.of(user, entity) != now.of(user, entity)}


def moved(before: FilterSet, now: FilterSet, who: Mapping[str, Identity], records: Iterable[Record]) -> set[
        tuple[str, str]]:  # fmt: skip
    """The (entity, crm_id) of every record some user's filters take before and not after the change, or after
    and not before."""
    records = list(records)
    scopes = changed_scopes(before, now, who, {entity for entity, _, _ in records})
    found: set[tuple[str, str]] = set()
    for entity, crm_id, attributes in records:
        for user, scoped in scopes:
            if scoped != entity:
                continue
            was = takes(before.of(user, entity), attributes, who[user])
            if was != takes(now.of(user, entity), attributes, who[user]):
                found.add((entity, crm_id))
                break
    return found


def entities_of(changes: Iterable[RowChange], stored: Rows) -> set[str]:
    """The entities whose filters the changes touch (as the row is now, and as it was)."""
    found = set()
    for change in changes:
        if change.table in FILTER_TABLES:
            for row in (change.row, stored.get(change.table, {}).get(change.principal.lower(), {})):
                if row.get("returnedtypecode"):
                    found.add(str(row["returnedtypecode"]))
    return found

