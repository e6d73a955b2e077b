"""The CRM security tables as one immutable model, built from the rows crm_capture publishes (SecurityChanged).

Pure: no I/O, no clock, no logging. `Tables` holds the rows as the Web API returns them (table = entity set name,
keyed by the row's primary key) and takes one SecurityChanged row change at a time; `build` turns them into a
`Model`: who belongs to which business unit and team, which roles (of their own or their teams') grant which
privileges at which depth, what is shared with whom, which attributes are secured and which field security
profiles reach whom. Every id is compared lower-case (the Web API's guids are case-insensitive).

The tables read (entity set names as the sandbox and Dynamics serve them): businessunits, systemusers, teams,
roles, privileges, roleprivilegescollection, systemuserrolescollection, teamrolescollection, teammemberships,
principalobjectaccessset, attributemetadata (rows {"EntityLogicalName", "LogicalName", "IsSecured"}),
fieldpermissions, systemuserprofilescollection, teamprofilescollection, and the sync filters (userqueries,
savedqueries: shared.filter_set), which are read with them so that a filter change reaches the policy in a round.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shared.fetch_match import Identity
from shared.filter_set import FILTER_TABLES, FilterSet, filter_set

Row = Mapping[str, Any]
FieldPermission = tuple[bool, bool, bool]  # (canread, canupdate, cancreate)
ALLOWED = 4  # fieldpermission canread/canupdate/cancreate: 0 Not Allowed, 4 Allowed
# The System Administrator role's template (the same id in every Dynamics organisation).
ADMIN = SYSTEM_ADMINISTRATOR_TEMPLATE = "627090ff-40a3-4053-8790-584edc5be201"
TABLES = (
    "businessunits", "systemusers", "teams", "roles", "privileges", "roleprivilegescollection",
    "systemuserrolescollection", "teamrolescollection", "teammemberships", "principalobjectaccessset",
    "attributemetadata", "fieldpermissions", "systemuserprofilescollection", "teamprofilescollection",
    "userqueries", "savedqueries",
)  # fmt: skip
EMPTY: frozenset[str] = frozenset()


def _id(value: Any) -> str | None:
    return str(value).lower() if value else None


@dataclass(frozen=True)
class Tables:
    """The rows of every security table: table -> primary key -> row. `apply` returns a new value."""

    rows: Mapping[str, Mapping[str, Row]] = field(default_factory=dict)

    def apply(self, table: str, principal: str, row: Row, deleted: bool) -> Tables:
        return self.apply_all([(table, principal, row, deleted)])

    def apply_all(self, changes: Iterable[tuple[str, str, Row, bool]]) -> Tables:
        """The tables after these row changes, in order (a deleted row goes)."""
        rows = dict(self.rows)
        copied: set[str] = set()
        for table, principal, row, deleted in changes:
            if table not in copied:
                rows[table], copied = dict(rows.get(table, {})), copied | {table}
            current = rows[table]
            assert isinstance(current, dict)
            if deleted:
                current.pop(principal.lower(), None)
            else:
                current[principal.lower()] = row
        return Tables(rows)

    def of(self, table: str) -> Iterable[Row]:
        return self.rows.get(table, {}).values()


@dataclass(frozen=True)
class Model:
    """Who is where, who holds what, what is shared and secured: the answers in security.py are built on it."""

    round: int = 0  # the SecurityChanged round these tables are complete for (0: none known yet)
    parent: Mapping[str, str | None] = field(default_factory=dict)  # business unit -> parent unit
    unit_names: Mapping[str, str] = field(default_factory=dict)
    user_unit: Mapping[str, str | None] = field(default_factory=dict)
    user_names: Mapping[str, str] = field(default_factory=dict)
    mailbox_users: Mapping[str, str] = field(default_factory=dict)  # internalemailaddress (lower) -> user
    team_unit: Mapping[str, str | None] = field(default_factory=dict)
    team_names: Mapping[str, str] = field(default_factory=dict)
    user_teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    admin_roles: frozenset[str] = EMPTY  # roles made from the System Administrator template
    role_depths: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # role -> privilege name -> depth
    user_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    team_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    shares: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # record -> principal -> access mask
    secured: Mapping[str, frozenset[str]] = field(default_factory=dict)  # entity logical name -> attributes
    permissions: Mapping[str, Mapping[tuple[str, str], FieldPermission]] = field(default_factory=dict)
    user_profiles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    team_profiles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    children: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The sync filters (userqueries, savedqueries); None for a model built from no tables at all (a bare
    # model: the other rules' tests, a replay without live tables), which scopes by the default templates.
    filters: FilterSet | None = None

    def identity(self, user: str) -> Identity:
        """Who `user` is to a sync filter: their teams and business unit."""
        return Identity(user, self.user_teams.get(user, EMPTY), self.user_unit.get(user))

    def subtree(self, unit: str | None) -> frozenset[str]:
        """The unit and its descendants (a cycle in bad data cannot make this loop)."""
        if unit is None:
            return EMPTY
        seen, pending = {unit}, [unit]
        while pending:
            for child in self.children.get(pending.pop(), EMPTY):
                if child not in seen:
                    seen.add(child)
                    pending.append(child)
        return frozenset(seen)

    def unit_of(self, principal: str | None) -> str | None:
        """The business unit of a user or a team (a record belongs to its owner's unit)."""
        if principal is None:
            return None
        return self.user_unit.get(principal) or self.team_unit.get(principal)

    def name_of(self, principal: str | None) -> str:
        if principal is None:
            return "nobody"
        return self.user_names.get(principal) or self.team_names.get(principal) or principal

    def unit_name(self, unit: str | None) -> str:
        return self.unit_names.get(unit, unit) if unit else "no business unit"


def _index(rows: Iterable[Row], key: str, value: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        first, second = _id(row.get(key)), _id(row.get(value))
        if first and second:
            found[first].add(second)
    return {k: frozenset(v) for k, v in found.items()}


def _names(rows: Iterable[Row], key: str) -> dict[str, str]:
    return {str(_id(row[key])): str(row.get("name") or row[key]) for row in rows if row.get(key)}


def _user_name(row: Row) -> str:
    first = row.get("firstname") or row.get("fullname")
    return str(first or row.get("domainname") or row.get("internalemailaddress") or row["systemuserid"])


def _role_depths(tables: Tables) -> dict[str, dict[str, int]]:
    names = {_id(p.get("privilegeid")): p.get("name") for p in tables.of("privileges")}
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for row in tables.of("roleprivilegescollection"):
        role, name = _id(row.get("roleid")), names.get(_id(row.get("privilegeid")))
        if role and isinstance(name, str):
            depth = int(row.get("privilegedepthmask") or 0)
            found[role][name] = max(depth, found[role].get(name, 0))
    return found


def _permissions(tables: Tables) -> dict[str, dict[tuple[str, str], FieldPermission]]:
    found: dict[str, dict[tuple[str, str], FieldPermission]] = defaultdict(dict)
    for row in tables.of("fieldpermissions"):
        profile, entity, attribute = (
            _id(row.get("_fieldsecurityprofileid_value")),
            row.get("entityname"),
            row.get("attributelogicalname"),
        )
        if profile and entity and attribute:
            read, update, create = (row.get(name) == ALLOWED for name in ("canread", "canupdate", "cancreate"))
            found[profile][(str(entity), str(attribute))] = (read, update, create)
    return found


def _secured(tables: Tables) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for row in tables.of("attributemetadata"):
        if row.get("IsSecured") and row.get("EntityLogicalName") and row.get("LogicalName"):
            found[str(row["EntityLogicalName"])].add(str(row["LogicalName"]))
    return {entity: frozenset(names) for entity, names in found.items()}


def build(tables: Tables, round_: int) -> Model:
    """The model of `tables`, complete as of SecurityChanged round `round_`."""
    parent: dict[str, str | None] = {}
    for unit in tables.of("businessunits"):
        unit_id = _id(unit.get("businessunitid"))
        if unit_id:
            parent[unit_id] = _id(unit.get("_parentbusinessunitid_value"))
    children: dict[str, set[str]] = defaultdict(set)
    for unit_id, above in parent.items():
        if above is not None and above != unit_id:
            children[above].add(unit_id)
    users = [u for u in tables.of("systemusers") if u.get("systemuserid")]
    teams = [t for t in tables.of("teams") if t.get("teamid")]
    shares: dict[str, dict[str, int]] = defaultdict(dict)
    for access in tables.of("principalobjectaccessset"):
        record, principal = _id(access.get("objectid")), _id(access.get("principalid"))
        if record and principal:
            shares[record][principal] = shares[record].get(principal, 0) | int(access.get("accessrightsmask") or 0)
    roles = list(tables.of("roles"))
    return Model(
        round=round_,
        parent=MappingProxyType(parent),
        unit_names=_names(tables.of("businessunits"), "businessunitid"),
        user_unit={str(_id(u["systemuserid"])): _id(u.get("_businessunitid_value")) for u in users},
        user_names={str(_id(u["systemuserid"])): _user_name(u) for u in users},
        mailbox_users={
            str(u["internalemailaddress"]).lower(): str(_id(u["systemuserid"]))
            for u in users
            if u.get("internalemailaddress")
        },
        team_unit={str(_id(t["teamid"])): _id(t.get("_businessunitid_value")) for t in teams},
        team_names=_names(teams, "teamid"),
        user_teams=_index(tables.of("teammemberships"), "systemuserid", "teamid"),
        admin_roles=frozenset(str(_id(r.get("roleid"))) for r in roles if _id(r.get("_roletemplateid_value")) == ADMIN),
        role_depths=_role_depths(tables),
        user_roles=_index(tables.of("systemuserrolescollection"), "systemuserid", "roleid"),
        team_roles=_index(tables.of("teamrolescollection"), "teamid", "roleid"),
        shares=shares,
        secured=_secured(tables),
        permissions=_permissions(tables),
        user_profiles=_index(tables.of("systemuserprofilescollection"), "systemuserid", "fieldsecurityprofileid"),
        team_profiles=_index(tables.of("teamprofilescollection"), "teamid", "fieldsecurityprofileid"),
        children={unit: frozenset(units) for unit, units in children.items()},
        filters=filter_set({table: tables.of(table) for table in FILTER_TABLES}),
    )
