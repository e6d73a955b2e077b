"""The security tables of the organisation as one immutable value, built from their rows (pure, no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

Row = dict[str, Any]
FieldPermission = tuple[bool, bool, bool]  # (canread, canupdate, cancreate)
ALLOWED = 4  # field_security_permission_type: 0 Not Allowed, 4 Allowed

# The tables the state is built from; a write to any of them makes a new state.
SECURITY_TABLES = (
    "businessunits", "systemusers", "teams", "roles", "roleprivilegescollection", "systemuserrolescollection",
    "teamrolescollection", "teammemberships", "principalobjectaccessset", "attributemetadata", "fieldpermissions",
    "systemuserprofilescollection", "teamprofilescollection",
)  # fmt: skip


@dataclass(frozen=True)
class SecurityState:
    """Who belongs where, who holds which roles, what is shared, which fields are secured for whom."""

    root: str | None = None
    parent: Mapping[str, str | None] = field(default_factory=dict)  # business unit -> parent unit
    user_unit: Mapping[str, str | None] = field(default_factory=dict)
    team_unit: Mapping[str, str | None] = field(default_factory=dict)
    team_type: Mapping[str, int] = field(default_factory=dict)
    user_teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    role_unit: Mapping[str, str | None] = field(default_factory=dict)
    role_template: Mapping[str, str | None] = field(default_factory=dict)
    role_privileges: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # role -> privilege -> depth
    user_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    team_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    shares: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # record -> principal -> access mask
    secured: frozenset[tuple[str, str]] = frozenset()  # (entity logical name, attribute)
    profile_permissions: Mapping[str, Mapping[tuple[str, str], FieldPermission]] = field(default_factory=dict)
    user_profiles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    team_profiles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @cached_property
    def children(self) -> Mapping[str, frozenset[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for unit, parent in self.parent.items():
            if parent is not None:
                found[parent].add(unit)
        return {unit: frozenset(units) for unit, units in found.items()}

    def subtree(self, unit: str | None) -> frozenset[str]:
        """The unit and all its descendants (a cycle cannot make this loop)."""
        if unit is None:
            return frozenset()
        seen, pending = {unit}, [unit]
        while pending:
            for child in self.children.get(pending.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    pending.append(child)
        return frozenset(seen)

    def ancestors(self, unit: str | None) -> list[str]:
        """The parents of `unit` up to the root, nearest first."""
        found: list[str] = []
        current = self.parent.get(unit) if unit else None
        while current is not None and current not in found and current != unit:
            found.append(current)
            current = self.parent.get(current)
        return found

    def teams_of(self, user: str) -> frozenset[str]:
        return self.user_teams.get(user, frozenset())

    def unit_of(self, principal: str | None) -> str | None:
        """The business unit of a user or a team."""
        if principal is None:
            return None
        return self.user_unit.get(principal) or self.team_unit.get(principal)

    def is_team(self, principal: str | None) -> bool:
        return principal in self.team_unit


def _index(rows: Iterable[Row], key: str, value: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.get(key) and row.get(value):
            found[row[key]].add(row[value])
    return {k: frozenset(v) for k, v in found.items()}


def _permissions(rows: Iterable[Row]) -> dict[str, dict[tuple[str, str], FieldPermission]]:
    found: dict[str, dict[tuple[str, str], FieldPermission]] = defaultdict(dict)
    for row in rows:
        profile = row.get("_fieldsecurityprofileid_value")
        if profile and row.get("entityname") and row.get("attributelogicalname"):
            allowed = tuple(row.get(name) == ALLOWED for name in ("canread", "canupdate", "cancreate"))
            found[profile][(row["entityname"], row["attributelogicalname"])] = allowed  # type: ignore[assignment]
    return found


def state_from_rows(rows: Mapping[str, list[Row]], root: str | None) -> SecurityState:
    """The state of the security tables; a unit without a parent other than `root` hangs below the root."""
    units = rows.get("businessunits", [])
    parent: dict[str, str | None] = {}
    for unit in units:
        given = unit.get("_parentbusinessunitid_value")
        parent[unit["businessunitid"]] = None if unit["businessunitid"] == root else (given or root)
    shares: dict[str, dict[str, int]] = defaultdict(dict)
    for access in rows.get("principalobjectaccessset", []):
        shares[access["objectid"]][access["principalid"]] = int(access.get("accessrightsmask") or 0)
    teams = rows.get("teams", [])
    return SecurityState(
        root=root,
        parent=parent,
        user_unit={u["systemuserid"]: u.get("_businessunitid_value") for u in rows.get("systemusers", [])},
        team_unit={t["teamid"]: t.get("_businessunitid_value") for t in teams},
        team_type={t["teamid"]: int(t.get("teamtype") or 0) for t in teams},
        user_teams=_index(rows.get("teammemberships", []), "systemuserid", "teamid"),
        role_unit={r["roleid"]: r.get("_businessunitid_value") for r in rows.get("roles", [])},
        role_template={r["roleid"]: r.get("_roletemplateid_value") for r in rows.get("roles", [])},
        role_privileges=_role_privileges(rows.get("roleprivilegescollection", [])),
        user_roles=_index(rows.get("systemuserrolescollection", []), "systemuserid", "roleid"),
        team_roles=_index(rows.get("teamrolescollection", []), "teamid", "roleid"),
        shares=shares,
        secured=frozenset(
            (a["EntityLogicalName"], a["LogicalName"]) for a in rows.get("attributemetadata", []) if a.get("IsSecured")
        ),
        profile_permissions=_permissions(rows.get("fieldpermissions", [])),
        user_profiles=_index(rows.get("systemuserprofilescollection", []), "systemuserid", "fieldsecurityprofileid"),
        team_profiles=_index(rows.get("teamprofilescollection", []), "teamid", "fieldsecurityprofileid"),
    )


def _role_privileges(rows: Iterable[Row]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        found[row["roleid"]][row["privilegeid"]] = int(row.get("privilegedepthmask") or 0)
    return found
