"""The security tables as entity sets, and the many-to-many relationships between them (pure, no I/O).

Names and attributes are the Web API's: `roles`, `privileges`, `roleprivilegescollection`, `teams`,
`teammemberships`, `fieldsecurityprofiles`, `fieldpermissions`, `principalobjectaccessset`, and the intersect
sets behind the `..._association` navigation properties.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

from infra.sandbox.crm.entity_set import EntitySet

UNIT = "_businessunitid_value"


def _intersect(name: str, logical_name: str, key: str, attributes: set[str], privilege_entity: str) -> EntitySet:
    return EntitySet(
        name=name, logical_name=logical_name, key=key, writable=frozenset(), lookups=frozenset(),
        has_state=False, privilege_entity=privilege_entity, read_only=True,
        read_only_attributes=frozenset(attributes), system_attributes=False,
    )  # fmt: skip


@cache
def security_sets() -> dict[str, EntitySet]:
    """The security entity sets, by entity set name."""
    found = [
        EntitySet(
            name="systemusers", logical_name="systemuser", key="systemuserid",
            writable=frozenset({"firstname", "lastname", "domainname", "internalemailaddress", "isdisabled"}),
            lookups=frozenset({"businessunitid"}), computed=frozenset({"fullname"}), has_state=False,
            privilege_entity="User", unit_attribute=UNIT,
        ),
        EntitySet(
            name="businessunits", logical_name="businessunit", key="businessunitid",
            writable=frozenset({"name", "isdisabled"}), lookups=frozenset({"parentbusinessunitid"}),
            has_state=False, privilege_entity="BusinessUnit", unit_attribute="businessunitid",
        ),
        EntitySet(
            name="teams", logical_name="team", key="teamid", writable=frozenset({"name", "teamtype", "description"}),
            lookups=frozenset({"businessunitid"}), has_state=False, privilege_entity="Team", unit_attribute=UNIT,
        ),
        EntitySet(
            name="roles", logical_name="role", key="roleid", writable=frozenset({"name"}),
            lookups=frozenset({"businessunitid"}), has_state=False, privilege_entity="Role", unit_attribute=UNIT,
            read_only_attributes=frozenset({"_roletemplateid_value"}),
        ),
        _intersect("privileges", "privilege", "privilegeid",
                   {"name", "accessright", "canbebasic", "canbelocal", "canbedeep", "canbeglobal"}, "Role"),
        _intersect("roleprivilegescollection", "roleprivileges", "roleprivilegeid",
                   {"roleid", "privilegeid", "privilegedepthmask"}, "Role"),
        _intersect("systemuserrolescollection", "systemuserroles", "systemuserroleid", {"systemuserid", "roleid"},
                   "Role"),
        _intersect("teamrolescollection", "teamroles", "teamroleid", {"teamid", "roleid"}, "Role"),
        _intersect("teammemberships", "teammembership", "teammembershipid", {"systemuserid", "teamid"}, "Team"),
        EntitySet(
            name="fieldsecurityprofiles", logical_name="fieldsecurityprofile", key="fieldsecurityprofileid",
            writable=frozenset({"name", "description"}), lookups=frozenset(), has_state=False,
            privilege_entity="FieldSecurityProfile",
        ),
        EntitySet(
            name="fieldpermissions", logical_name="fieldpermission", key="fieldpermissionid",
            writable=frozenset({"entityname", "attributelogicalname", "canread", "canupdate", "cancreate"}),
            lookups=frozenset({"fieldsecurityprofileid"}), has_state=False, privilege_entity="FieldPermission",
        ),
        _intersect("systemuserprofilescollection", "systemuserprofiles", "systemuserprofileid",
                   {"systemuserid", "fieldsecurityprofileid"}, "FieldSecurityProfile"),
        _intersect("teamprofilescollection", "teamprofiles", "teamprofileid",
                   {"teamid", "fieldsecurityprofileid"}, "FieldSecurityProfile"),
        EntitySet(
            name="principalobjectaccessset", logical_name="principalobjectaccess", key="principalobjectaccessid",
            writable=frozenset(), lookups=frozenset(), has_state=False, read_only=True, system_attributes=False,
            read_only_attributes=frozenset({
                "objectid", "objecttypecode", "principalid", "principaltypecode", "accessrightsmask",
                "inheritedaccessrightsmask", "changedon",
            }),
        ),
    ]
    return {spec.name: spec for spec in found}


@dataclass(frozen=True)
class Relationship:
    """A many-to-many relationship: its navigation property (the same name on both sides) and intersect set."""

    name: str
    intersect: str
    first: tuple[str, str]  # (entity set, attribute naming it in the intersect row)
    second: tuple[str, str]
    associable: bool = True  # roleprivileges change through AddPrivilegesRole / RemovePrivilegeRole only

    def other(self, entity_set: str) -> tuple[tuple[str, str], tuple[str, str]] | None:
        """(this side, the other side) seen from `entity_set`, or None when it is not part of it."""
        if self.first[0] == entity_set:
            return self.first, self.second
        if self.second[0] == entity_set:
            return self.second, self.first
        return None


RELATIONSHIPS = {
    r.name: r
    for r in (
        Relationship("systemuserroles_association", "systemuserrolescollection",
                     ("systemusers", "systemuserid"), ("roles", "roleid")),
        Relationship("teamroles_association", "teamrolescollection", ("teams", "teamid"), ("roles", "roleid")),
        Relationship("teammembership_association", "teammemberships",
                     ("systemusers", "systemuserid"), ("teams", "teamid")),
        Relationship("systemuserprofiles_association", "systemuserprofilescollection",
                     ("fieldsecurityprofiles", "fieldsecurityprofileid"), ("systemusers", "systemuserid")),
        Relationship("teamprofiles_association", "teamprofilescollection",
                     ("fieldsecurityprofiles", "fieldsecurityprofileid"), ("teams", "teamid")),
        Relationship("roleprivileges_association", "roleprivilegescollection",
                     ("roles", "roleid"), ("privileges", "privilegeid"), associable=False),
    )
}


_LINKS = uuid.UUID("8f2d6a41-0b7e-4c3a-9e15-2c4b7d9a6e30")


def link_id(kind: str, first: str, second: str) -> str:
    """The id of the row linking two records (intersect, role privilege, share): one row per pair."""
    return str(uuid.uuid5(_LINKS, f"{kind}:{first}:{second}"))
