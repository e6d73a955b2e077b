"""Who may do what to which record, and which secured fields they may read, update and create (pure, no I/O).

The rules follow "How access to a record is determined" (Power Platform admin docs): a privilege check (the
principal holds the privilege at all, through a role of its own or of one of its teams), then an access check
(the depth reaches the record, or the record is shared with the principal or one of its teams). Rights from
every path add up. A role assigned to a team counts for the team's members as if assigned to them ("Direct
User (Basic) access level and Team privileges", the default member's privilege inheritance) and, for
business-unit depths, also from the team's business unit. Depths: Basic reaches records owned by the user or
one of the user's teams, Local the records of that business unit, Deep also its descendants, Global all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra.sandbox.crm.privileges import (
    ALL_RIGHTS,
    BUSINESS,
    DEEP,
    GLOBAL,
    LOCAL,
    SYSTEM_ADMINISTRATOR_TEMPLATE,
    USER,
    VERB_RIGHT,
    Privilege,
    catalogue,
    privilege_for,
)
from infra.sandbox.crm.schema import EntitySet
from infra.sandbox.crm.security_state import SecurityState

Row = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """What the rules need to know about one record."""

    id: str | None
    owner: str | None  # the user or team owning it; a systemuser "owns" its own record
    unit: str | None  # the business unit it belongs to


@dataclass(frozen=True)
class Reach:
    """Where one privilege of one principal reaches."""

    held: bool = False
    everywhere: bool = False
    owners: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()

    def covers(self, target: Target) -> bool:
        return self.everywhere or target.owner in self.owners or target.unit in self.units


@dataclass(frozen=True)
class Denial:
    """Why an operation is refused: the privilege is not held at all, or it does not reach the record."""

    privilege: Privilege | None  # None: the table is reserved to System Administrators
    right: str
    held: bool


@dataclass(frozen=True)
class FieldAccess:
    """The secured attributes of one table and those a principal may read, update and create."""

    secured: frozenset[str] = frozenset()
    readable: frozenset[str] = frozenset()
    updatable: frozenset[str] = frozenset()
    creatable: frozenset[str] = frozenset()

    @property
    def hidden(self) -> frozenset[str]:
        return self.secured - self.readable


def target_of(state: SecurityState, spec: EntitySet, row: Row) -> Target:
    record_id = row.get(spec.key)
    if spec.ownership == USER:
        owner = row.get("_ownerid_value")
        return Target(record_id, owner, state.unit_of(owner))
    if spec.ownership == BUSINESS and spec.unit_attribute:
        owner = record_id if spec.name == "systemusers" else None
        return Target(record_id, owner, row.get(spec.unit_attribute))
    return Target(record_id, None, None)


def _roles(state: SecurityState, principal: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(role, the principals its depths are measured from) for every role the principal holds."""
    if state.is_team(principal):
        for role in state.team_roles.get(principal, ()):
            yield role, (principal,)
        return
    for role in state.user_roles.get(principal, ()):
        yield role, (principal,)
    for team in state.teams_of(principal):
        for role in state.team_roles.get(team, ()):
            yield role, (principal, team)


def _owned_by(state: SecurityState, anchor: str) -> frozenset[str]:
    return frozenset({anchor}) if state.is_team(anchor) else frozenset({anchor}) | state.teams_of(anchor)


def reach(state: SecurityState, principal: str, privilege_id: str) -> Reach:
    held = everywhere = False
    owners: set[str] = set()
    units: set[str] = set()
    for role, anchors in _roles(state, principal):
        depth = state.role_privileges.get(role, {}).get(privilege_id, 0)
        if not depth:
            continue
        held = True
        for anchor in anchors:
            owners |= _owned_by(state, anchor)
            unit = state.unit_of(anchor)
            if depth >= GLOBAL:
                everywhere = True
            elif depth >= DEEP:
                units |= state.subtree(unit)
            elif depth >= LOCAL and unit:
                units.add(unit)
    return Reach(held, everywhere, frozenset(owners), frozenset(units))


def is_system_administrator(state: SecurityState, principal: str) -> bool:
    return any(state.role_template.get(role) == SYSTEM_ADMINISTRATOR_TEMPLATE for role, _ in _roles(state, principal))


def shared_rights(state: SecurityState, principal: str, record_id: str | None) -> int:
    """The rights shared on the record with the principal and, for a user, with its teams."""
    if record_id is None:
        return 0
    shares = state.shares.get(record_id, {})
    principals = {principal} if state.is_team(principal) else {principal} | state.teams_of(principal)
    mask = 0
    for holder in principals:
        mask |= shares.get(holder, 0)
    return mask


def rights(state: SecurityState, principal: str, spec: EntitySet, row: Row) -> int:
    """The AccessRights mask the principal has on the record (what RetrievePrincipalAccess answers)."""
    if spec.privilege_entity is None:
        return ALL_RIGHTS if is_system_administrator(state, principal) else 0
    target = target_of(state, spec, row)
    shared = shared_rights(state, principal, target.id)
    mask = 0
    for verb, right in VERB_RIGHT.items():
        privilege = privilege_for(spec.privilege_entity, verb)
        if privilege is None:
            continue
        found = reach(state, principal, privilege.privilegeid)
        if found.covers(target) or (found.held and shared & right):
            mask |= right
    return mask


def check(state: SecurityState, principal: str, spec: EntitySet, row: Row, verb: str) -> Denial | None:
    """None when the principal may `verb` the record (for Create: the record about to be created)."""
    right = f"{verb}Access"
    if spec.privilege_entity is None:
        return None if is_system_administrator(state, principal) else Denial(None, right, held=False)
    privilege = privilege_for(spec.privilege_entity, verb)
    if privilege is None:  # the verb does not exist for this table: only an administrator may
        return None if is_system_administrator(state, principal) else Denial(None, right, held=False)
    found = reach(state, principal, privilege.privilegeid)
    if not found.held:
        return Denial(privilege, right, held=False)
    target = target_of(state, spec, row)
    if found.covers(target) or shared_rights(state, principal, target.id) & VERB_RIGHT[verb]:
        return None
    return Denial(privilege, right, held=True)


class Visibility:
    """The read check of one principal on one table, computed once for a whole collection."""

    def __init__(self, state: SecurityState, principal: str, spec: EntitySet):
        self.state, self.principal, self.spec = state, principal, spec
        if spec.privilege_entity is None:
            admin = is_system_administrator(state, principal)
            self.privilege, self.reach = None, Reach(held=admin, everywhere=admin)
            return
        self.privilege = privilege_for(spec.privilege_entity, "Read")
        self.reach = reach(state, principal, self.privilege.privilegeid) if self.privilege else Reach()

    @property
    def held(self) -> bool:
        return self.reach.held

    def sees(self, row: Row) -> bool:
        target = target_of(self.state, self.spec, row)
        return self.reach.covers(target) or bool(
            self.reach.held and shared_rights(self.state, self.principal, target.id) & VERB_RIGHT["Read"]
        )


def _profiles(state: SecurityState, principal: str) -> frozenset[str]:
    if state.is_team(principal):
        return state.team_profiles.get(principal, frozenset())
    found = set(state.user_profiles.get(principal, frozenset()))
    for team in state.teams_of(principal):
        found |= state.team_profiles.get(team, frozenset())
    return frozenset(found)


def field_access(state: SecurityState, principal: str, entity: str) -> FieldAccess:
    """Secured attributes of `entity`: System Administrators may do everything with them, others what the
    field permissions of their profiles (and their teams' profiles) allow; the permissions add up."""
    secured = frozenset(attribute for table, attribute in state.secured if table == entity)
    if not secured:
        return FieldAccess()
    if is_system_administrator(state, principal):
        return FieldAccess(secured, secured, secured, secured)
    allowed: tuple[set[str], set[str], set[str]] = (set(), set(), set())
    for profile in _profiles(state, principal):
        for (table, attribute), permission in state.profile_permissions.get(profile, {}).items():
            if table == entity and attribute in secured:
                for names, granted in zip(allowed, permission, strict=True):
                    if granted:
                        names.add(attribute)
    return FieldAccess(secured, frozenset(allowed[0]), frozenset(allowed[1]), frozenset(allowed[2]))


def user_privileges(state: SecurityState, principal: str) -> list[tuple[Privilege, int, str | None]]:
    """(privilege, highest depth, business unit of the role granting it), what RetrieveUserPrivileges lists."""
    best: dict[str, tuple[int, str | None]] = {}
    for role, _ in _roles(state, principal):
        for privilege_id, depth in state.role_privileges.get(role, {}).items():
            if depth > best.get(privilege_id, (0, None))[0]:
                best[privilege_id] = (depth, state.role_unit.get(role))
    known = catalogue()
    found = [(known[p], depth, unit) for p, (depth, unit) in best.items() if p in known]
    return sorted(found, key=lambda entry: entry[0].name)
