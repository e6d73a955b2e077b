"""The organisation's sync filters as fieldsync evaluates them: per user and entity, which apply and which take a
record. Pure: no I/O, no clock, no logging.

Dynamics keeps a user's sync filters in `userqueries` and the organisation's in `savedqueries`, both with
`querytype` 256 (OutlookFilters); `returnedtypecode` names the entity, `fetchxml` the rows, `statecode` 0 an
enabled filter (1: disabled). The filters of one user for one entity are that user's own and every system filter
of the entity; the record reaches the user's mailbox when at least one enabled filter takes it (a union), and
nothing of an entity syncs for a user with no enabled filter of it (sync-semantics 3). A filter whose FetchXML
fieldsync cannot evaluate exactly (shared.fetchxml refuses it) does not apply and says why, never half applied.

The policy (services/policy/membership.py) asks `match` for every synced user; crm_capture asks it before and
after a change of the filter rows, to refresh exactly the records whose membership changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.fetch_match import Identity, matches
from shared.fetchxml import FetchQuery, FetchXmlError, FilterGroup, parse

OUTLOOK_FILTERS = 256  # querytype of a sync filter (OutlookTemplate rows are templates, not filters)
USER_QUERIES, SAVED_QUERIES = "userqueries", "savedqueries"
FILTER_TABLES = (USER_QUERIES, SAVED_QUERIES)
_KEYS = {USER_QUERIES: "userqueryid", SAVED_QUERIES: "savedqueryid"}
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Filter:
    """One sync filter as read: whose (`owner` for a user filter), for which entity, and whether it applies."""

    id: str
    name: str
    entity: str
    kind: Literal["user", "system"]
    owner: str | None
    enabled: bool
    query: FetchQuery | None  # None: the FetchXML is refused, `error` says why
    error: str | None = None

    @property
    def applies(self) -> bool:
        return self.enabled and self.query is not None

    @property
    def label(self) -> str:
        return f"{self.kind} filter '{self.name}'"


def is_filter_row(table: str, row: Row, synced: frozenset[str] | None = None) -> bool:
    """A row of a sync filter (querytype 256) of a synced entity (any entity when `synced` is None)."""
    if table not in _KEYS or row.get("querytype") != OUTLOOK_FILTERS or not row.get(_KEYS[table]):
        return False
    return synced is None or row.get("returnedtypecode") in synced


def filter_of(table: str, row: Row) -> Filter:
    """The filter of one userqueries or savedqueries row (is_filter_row holds for it)."""
    entity = str(row.get("returnedtypecode") or "")
    owner = row.get("_ownerid_value") if table == USER_QUERIES else None
    query: FetchQuery | None = None
    error = None
    try:
        query = parse(str(row.get("fetchxml") or ""))
    except FetchXmlError as exc:
        error = f"not applied: {exc}"
    if query is not None and query.entity != entity:
        error = f"not applied: its FetchXML reads {query.entity}, the filter is for {entity}"
        query = None
    return Filter(
        id=str(row[_KEYS[table]]).lower(),
        name=str(row.get("name") or row[_KEYS[table]]),
        entity=entity,
        kind="user" if table == USER_QUERIES else "system",
        owner=str(owner).lower() if owner else None,
        enabled=row.get("statecode") == 0,
        query=query,
        error=error,
    )


@dataclass(frozen=True)
class FilterSet:
    """Every sync filter: the users' own by (owner, entity), the system ones by entity."""

    users: Mapping[tuple[str, str], tuple[Filter, ...]] = field(default_factory=dict)
    system: Mapping[str, tuple[Filter, ...]] = field(default_factory=dict)

    def of(self, user: str, entity: str) -> tuple[Filter, ...]:
        """The filters that decide what of `entity` reaches `user`'s mailbox: their own, then the system ones."""
        return self.users.get((user.lower(), entity), ()) + self.system.get(entity, ())


def filter_set(tables: Mapping[str, Iterable[Row]]) -> FilterSet:
    """The filters of the rows of `userqueries` and `savedqueries` (table -> rows); other rows are ignored."""
    users: dict[tuple[str, str], list[Filter]] = {}
    system: dict[str, list[Filter]] = {}
    for table in FILTER_TABLES:
        for row in tables.get(table, ()):
            if not is_filter_row(table, row):
                continue
            found = filter_of(table, row)
            if found.kind == "system":
                system.setdefault(found.entity, []).append(found)
            elif found.owner:
                users.setdefault((found.owner, found.entity), []).append(found)
    order = lambda f: (f.name.lower(), f.id)  # noqa: E731 - a sort key, named once
    return FilterSet(
        {key: tuple(sorted(found, key=order)) for key, found in users.items()},
        {key: tuple(sorted(found, key=order)) for key, found in system.items()},
    )


@dataclass(frozen=True)
class Match:
    """Which of a user's filters for the entity take the record (`matched`), among all evaluated."""

    evaluated: tuple[Filter, ...]
    matched: tuple[Filter, ...]
    missed: Mapping[str, str] = field(default_factory=dict)  # filter id -> why it does not take the record

    @property
    def inside(self) -> bool:
        return bool(self.matched)

    def sentence(self, user: str, entity: str) -> str:
        """Why the record is not in the user's filters (for explain), or which filters take it."""
        if self.matched:
            return f"taken by {', '.join(f.label for f in self.matched)}"
        if not self.evaluated:
            return f"{user} has no sync filter of {entity}: nothing of it syncs to their mailbox"
        parts = []
        for found in self.evaluated:
            if not found.enabled:
                parts.append(f"{found.label} is disabled")
            elif found.error:
                parts.append(f"{found.label} is {found.error}")
            else:
                parts.append(f"{found.label} does not take the record ({self.missed.get(found.id, 'no match')})")
        return f"no sync filter of {user} for {entity} takes the record: " + "; ".join(parts)


def match(filters: Iterable[Filter], record: Row, who: Identity) -> Match:
    """Evaluate every filter (all of them, so explain can say why each did not take the record)."""
    evaluated = tuple(filters)
    matched, missed = [], {}
    for found in evaluated:
        if not found.applies or found.query is None:
            continue
        if matches(found.query, record, who):
            matched.append(found)
        else:
            missed[found.id] = _why(found.query, record, who)
    return Match(evaluated, tuple(matched), missed)


def takes(filters: Iterable[Filter], record: Row, who: Identity) -> bool:
    """At least one applying filter takes the record (the union), without explaining."""
    return any(f.applies and f.query is not None and matches(f.query, record, who) for f in filters)


def _why(query: FetchQuery, record: Row, who: Identity) -> str:
    """The first top-level condition that fails (an `and` filter), or that none holds (an `or` filter)."""
    group = query.filter
    if group is None:
        return "no match"
    if group.kind == "or":
        return "none of its conditions holds"
    for condition in group.conditions:
        alone = FetchQuery(query.entity, FilterGroup("and", (condition,), ()))
        if not matches(alone, record, who):
            values = f" {', '.join(condition.values)}" if condition.values else ""
            actual = record.get(condition.attribute, record.get(f"_{condition.attribute}_value"))
            return f"{condition.attribute} {condition.operator}{values} does not hold: it is {actual!r}"
    return "a nested filter does not hold"


def identities(users: Iterable[Row], memberships: Iterable[Row]) -> dict[str, Identity]:
    """Who each user with a mailbox is to a filter (their teams, their business unit), from the security rows."""
    teams: dict[str, set[str]] = {}
    for row in memberships:
        if row.get("systemuserid") and row.get("teamid"):
            teams.setdefault(str(row["systemuserid"]).lower(), set()).add(str(row["teamid"]).lower())
    found = {}
    for row in users:
        if row.get("systemuserid") and row.get("internalemailaddress"):
            user = str(row["systemuserid"]).lower()
            unit = row.get("_businessunitid_value")
            found[user] = Identity(user, frozenset(teams.get(user, ())), str(unit).lower() if unit else None)
    return found
