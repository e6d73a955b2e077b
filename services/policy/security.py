"""Security answers for (user, record) and (user, field): may read, write, create, delete, and why not.

Pure: no I/O, no clock, no logging. The rules are Dynamics' ("How access to a record is determined"), written
from its documentation, independently of the sandbox (a differential test compares the two):

- role-based: the user needs the entity's privilege (prvReadContact; every activity uses the Activity
  privileges, prvReadActivity) through a role of their own or of one of their teams; without it: `no_privilege`;
- record-based: the privilege's depth must cover the record. Basic: owned by the user or one of the user's
  teams; Local: the owner's business unit is the user's (for a team's role, also the team's); Deep: that unit
  or one below it; Global: any record. Or the record is shared, with that right, with the user or one of their
  teams (a share needs the privilege at some depth). Rights from all paths add up. Otherwise: `no_access`;
- field-level: a secured attribute is readable, updatable or creatable only through the field permissions of
  a field security profile of the user or of one of their teams; a field pair (a composite maps to several
  attributes) only when all its attributes are. Non-secured fields follow the record rights: `field_security`;
- a System Administrator (a role made from that template, held directly or through a team) may do everything,
  every secured field included.

Each denial carries a sentence in the style of Dynamics' RetrieveAccessOrigin. What is asked on the decide path
is precomputed: per user, where each privilege reaches (`UserRights`), and per user and entity, which field
pairs are not readable, updatable or creatable (`FieldRights`), cached in `Security` for the model's lifetime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from services.policy.security_model import EMPTY, Model
from shared.catalogue import EntitySpec
from shared.events import Reason

Verb = Literal["Read", "Write", "Create", "Delete"]
VERBS: tuple[Verb, ...] = ("Read", "Write", "Create", "Delete")
RIGHTS: Mapping[Verb, int] = {"Read": 1, "Write": 2, "Create": 32, "Delete": 65536}  # AccessRights flags
BASIC, LOCAL, DEEP, GLOBAL = 1, 2, 4, 8
DEPTHS = {BASIC: "Basic", LOCAL: "Local", DEEP: "Deep", GLOBAL: "Global"}
_FIELD_VERBS = (("reading", 0), ("updating", 1), ("creating", 2))


def privilege_name(entity: str, verb: Verb) -> str:
    """prv<Verb><Entity>: contacts have their own privileges, every activity shares the Activity ones."""
    return f"prv{verb}{'Contact' if entity == 'contact' else 'Activity'}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: Reason | None = None  # no_privilege, no_access or field_security when not allowed
    detail: str | None = None


ALLOWED = Verdict(True)


@dataclass(frozen=True)
class Reach:
    """Where one privilege of one user reaches."""

    depth: int = 0  # the highest depth held (0: not held)
    everywhere: bool = False
    owners: frozenset[str] = EMPTY
    units: frozenset[str] = EMPTY

    def covers(self, owner: str | None, unit: str | None) -> bool:
        return self.everywhere or owner in self.owners or unit in self.units


@dataclass(frozen=True)
class UserRights:
    """One user's precomputed rights: the principals shares count for and each privilege's reach."""

    user: str
    name: str
    admin: bool
    principals: frozenset[str]  # the user and their teams
    reach: Mapping[str, Reach] = field(default_factory=dict)  # privilege name -> reach


@dataclass(frozen=True)
class AttributeRights:
    """The secured attributes of one entity, and those the user may read, update and create."""

    secured: frozenset[str] = EMPTY
    readable: frozenset[str] = EMPTY
    updatable: frozenset[str] = EMPTY
    creatable: frozenset[str] = EMPTY


@dataclass(frozen=True)
class FieldRights:
    """Per field pair key of one entity: the sentence why the user may not read, update or create it."""

    unreadable: Mapping[str, str] = field(default_factory=dict)
    unupdatable: Mapping[str, str] = field(default_factory=dict)
    uncreatable: Mapping[str, str] = field(default_factory=dict)


def _reach(model: Model, user: str, teams: frozenset[str]) -> dict[str, Reach]:
    """Every privilege the user holds, through their roles and their teams' roles, and where it reaches."""
    depth: dict[str, int] = {}
    units: dict[str, set[str]] = {}
    everywhere: set[str] = set()
    anchored: list[tuple[str, tuple[str, ...]]] = [(role, (user,)) for role in model.user_roles.get(user, EMPTY)]
    anchored += [(role, (user, team)) for team in teams for role in model.team_roles.get(team, EMPTY)]
    for role, anchors in anchored:
        for name, held in model.role_depths.get(role, {}).items():
            if not held:
                continue
            depth[name] = max(depth.get(name, 0), held)
            reached = units.setdefault(name, set())
            for anchor in anchors:
                unit = model.unit_of(anchor)
                if held >= GLOBAL:
                    everywhere.add(name)
                elif held >= DEEP:
                    reached |= model.subtree(unit)
                elif held >= LOCAL and unit:
                    reached.add(unit)
    owners = frozenset({user}) | teams
    return {
        name: Reach(held, name in everywhere, owners, frozenset(units.get(name, ()))) for name, held in depth.items()
    }


def rights_of(model: Model, user: str) -> UserRights:
    teams = model.user_teams.get(user, EMPTY)
    roles = set(model.user_roles.get(user, EMPTY)).union(*(model.team_roles.get(t, EMPTY) for t in teams))
    return UserRights(user, model.name_of(user), bool(roles & model.admin_roles), frozenset({user}) | teams,
                      _reach(model, user, teams))  # fmt: skip


def attribute_rights(model: Model, rights: UserRights, entity: str) -> AttributeRights:
    """Secured attributes of `entity`: an administrator may do everything, others what their profiles allow."""
    secured = model.secured.get(entity, EMPTY)
    if not secured or rights.admin:
        return AttributeRights(secured, secured, secured, secured)
    allowed: tuple[set[str], set[str], set[str]] = (set(), set(), set())
    profiles = set(model.user_profiles.get(rights.user, EMPTY))
    for team in rights.principals - {rights.user}:
        profiles |= model.team_profiles.get(team, EMPTY)
    for profile in profiles:
        for (table, attribute), permission in model.permissions.get(profile, {}).items():
            if table == entity and attribute in secured:
                for names, granted in zip(allowed, permission, strict=True):
                    if granted:
                        names.add(attribute)
    return AttributeRights(secured, frozenset(allowed[0]), frozenset(allowed[1]), frozenset(allowed[2]))


class Security:
    """The answers of one model; per-user and per-(user, entity) results are computed once and kept."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self._rights: dict[str, UserRights] = {}
        self._attributes: dict[tuple[str, str], AttributeRights] = {}
        self._fields: dict[tuple[str, str], FieldRights] = {}

    @property
    def round(self) -> int:
        return self.model.round

    def user_of(self, mailbox: str | None) -> str | None:
        """The systemuser whose internalemailaddress the mailbox is (case-insensitive)."""
        return self.model.mailbox_users.get(mailbox.lower()) if mailbox else None

    def rights(self, user: str) -> UserRights:
        found = self._rights.get(user)
        if found is None:
            found = self._rights[user] = rights_of(self.model, user)
        return found

    def attributes(self, user: str, entity: str) -> AttributeRights:
        key = (user, entity)
        found = self._attributes.get(key)
        if found is None:
            found = self._attributes[key] = attribute_rights(self.model, self.rights(user), entity)
        return found

    def record(self, user: str, entity: str, crm_id: str | None, owner: str | None, verb: Verb) -> Verdict:
        """May the user `verb` the record (owned by `owner`; for Create: the record about to be created)?"""
        rights = self.rights(user)
        if rights.admin:
            return ALLOWED
        privilege = privilege_name(entity, verb)
        reach = rights.reach.get(privilege)
        if reach is None:
            return Verdict(False, "no_privilege",
                           f"{rights.name} holds no {privilege} privilege through a role of theirs or of their "
                           "teams")  # fmt: skip
        owner = owner.lower() if owner else None
        unit = self.model.unit_of(owner)
        if verb == "Create" or reach.covers(owner, unit):
            return ALLOWED
        shares = self.model.shares.get(crm_id.lower(), {}) if crm_id else {}
        if any(shares.get(p, 0) & RIGHTS[verb] for p in rights.principals):
            return ALLOWED
        return Verdict(False, "no_access",
                       f"{rights.name} holds {privilege} at {DEPTHS.get(reach.depth, 'Basic')} depth; the record is "
                       f"owned by {self.model.name_of(owner)}, {self.model.unit_name(unit)}, and is not shared "
                       f"with {rights.name} or their teams for {verb.lower()}")  # fmt: skip

    def fields(self, user: str, spec: EntitySpec) -> FieldRights:
        """Which field pairs of the entity the user may not read, update or create, each with its sentence."""
        key = (user, spec.name)
        found = self._fields.get(key)
        if found is None:
            found = self._fields[key] = self._field_rights(user, spec)
        return found

    def _field_rights(self, user: str, spec: EntitySpec) -> FieldRights:
        access = self.attributes(user, spec.name)
        if not access.secured:
            return FieldRights()
        name = self.rights(user).name
        denied: tuple[dict[str, str], dict[str, str], dict[str, str]] = ({}, {}, {})
        allowed = (access.readable, access.updatable, access.creatable)
        for pair in spec.fields:
            for doing, index in _FIELD_VERBS:
                closed = [a for a in pair.crm_attributes if a in access.secured and a not in allowed[index]]
                if closed:
                    denied[index][pair.key] = (
                        f"{', '.join(closed)} of {spec.name} is a secured field and no field security profile "
                        f"of {name} or their teams allows {doing} it"
                    )
        return FieldRights(*denied)


def no_user(mailbox: str | None) -> Verdict:
    """The mailbox is no CRM user's: nothing of CRM may reach it or come from it."""
    return Verdict(False, "no_privilege", f"no CRM user has the mailbox address {mailbox}")
