"""The privileges of the sandbox organisation, the AccessRights flags and the privilege depths (pure, no I/O).

A privilege is named `prv<Verb><Entity>` after the schema name of the table it guards. As in Dynamics, all
activity tables (appointment, task, phone call, letter, fax, recurring appointment, service activity) share
the `Activity` privileges (prvReadActivity, ...): "The Appointment entity uses the same privileges as all
activity entities" (Dynamics CRM SDK, Appointment entity privileges). Privilege ids are derived from the
name, so every sandbox has the same ids.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

# AccessRights as in the Web API's AccessRights EnumType; a flags string lists them in this order.
ACCESS_RIGHTS: dict[str, int] = {
    "ReadAccess": 1,
    "WriteAccess": 2,
    "AppendAccess": 4,
    "AppendToAccess": 16,
    "CreateAccess": 32,
    "DeleteAccess": 65536,
    "ShareAccess": 262144,
    "AssignAccess": 524288,
}
ALL_RIGHTS = sum(ACCESS_RIGHTS.values())
VERBS = ("Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share")
VERB_RIGHT = {verb: ACCESS_RIGHTS[f"{verb}Access"] for verb in VERBS}

# privilegedepthmask values, and the PrivilegeDepth EnumType names the actions and functions use.
BASIC, LOCAL, DEEP, GLOBAL = 1, 2, 4, 8
DEPTH_NAMES = {"Basic": BASIC, "Local": LOCAL, "Deep": DEEP, "Global": GLOBAL}
DEPTH_OF_MASK = {mask: name for name, mask in DEPTH_NAMES.items()}

# How the records of a privilege entity are owned: by a user or team, by a business unit, by the organisation.
USER, BUSINESS, ORGANIZATION = "user", "business", "organization"
# Privilege entity (schema name in the privilege names) -> ownership of its records.
PRIVILEGE_ENTITIES: dict[str, str] = {
    "Contact": USER,
    "Account": USER,
    "Activity": USER,
    "User": BUSINESS,
    "BusinessUnit": BUSINESS,
    "Team": BUSINESS,
    "Role": BUSINESS,
    "FieldSecurityProfile": ORGANIZATION,
    "FieldPermission": ORGANIZATION,
    "UserQuery": USER,  # userquery: a user's saved views and sync filters
    "Query": ORGANIZATION,  # savedquery: system views, system filters and their templates
}
# Records a business unit or the organisation owns cannot be assigned or shared, so those verbs do not exist.
_UNOWNABLE_VERBS = frozenset({"Assign", "Share"})
_NAMESPACE = uuid.UUID("3c7f1e52-8d0a-4e51-a7b2-6b1de0c4f9a7")
SYSTEM_ADMINISTRATOR_TEMPLATE = "627090ff-40a3-4053-8790-584edc5be201"  # the role template of System Administrator


@dataclass(frozen=True)
class Privilege:
    """One row of the privileges table."""

    privilegeid: str
    name: str
    verb: str
    entity: str
    canbebasic: bool
    canbelocal: bool
    canbedeep: bool
    canbeglobal: bool

    @property
    def accessright(self) -> int:
        return VERB_RIGHT[self.verb]

    def allows(self, depth: int) -> bool:
        return {BASIC: self.canbebasic, LOCAL: self.canbelocal, DEEP: self.canbedeep, GLOBAL: self.canbeglobal}.get(
            depth, False
        )

    def row(self) -> dict[str, object]:
        return {
            "privilegeid": self.privilegeid, "name": self.name, "accessright": self.accessright,
            "canbebasic": self.canbebasic, "canbelocal": self.canbelocal,
            "canbedeep": self.canbedeep, "canbeglobal": self.canbeglobal,
        }  # fmt: skip


def privilege_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def _privilege(verb: str, entity: str) -> Privilege:
    ownership = PRIVILEGE_ENTITIES[entity]
    name = f"prv{verb}{entity}"
    return Privilege(
        privilegeid=privilege_id(name), name=name, verb=verb, entity=entity,
        canbebasic=ownership == USER, canbelocal=ownership != ORGANIZATION,
        canbedeep=ownership != ORGANIZATION, canbeglobal=True,
    )  # fmt: skip


@cache
def catalogue() -> dict[str, Privilege]:
    """Every privilege, by privilegeid."""
    found = [
        _privilege(verb, entity)
        for entity, ownership in PRIVILEGE_ENTITIES.items()
        for verb in VERBS
        if ownership == USER or verb not in _UNOWNABLE_VERBS
    ]
    return {p.privilegeid: p for p in found}


@cache
def by_name() -> dict[str, Privilege]:
    return {p.name: p for p in catalogue().values()}


def privilege_for(entity: str, verb: str) -> Privilege | None:
    """The privilege guarding `verb` on the privilege entity, if that verb exists for it."""
    return by_name().get(f"prv{verb}{entity}")


def rights_text(mask: int) -> str:
    """An AccessRights flags value as the Web API writes it: "ReadAccess, WriteAccess", or "None"."""
    names = [name for name, flag in ACCESS_RIGHTS.items() if mask & flag]
    return ", ".join(names) or "None"


def parse_rights(value: object) -> int | None:
    """"ReadAccess, WriteAccess" (or the number) -> the mask; None when a name is unknown."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 and value & ~ALL_RIGHTS == 0 else None
    if not isinstance(value, str):
        return None
    mask = 0
    for part in (p.strip() for p in value.split(",")):
        if part == "None":
            continue
        if part not in ACCESS_RIGHTS:
            return None
        mask |= ACCESS_RIGHTS[part]
    return mask
