"""The security actions: AddPrivilegesRole and RemovePrivilegeRole (bound to a role), and record sharing with
GrantAccess, ModifyAccess and RevokeAccess (unbound), in the Web API's request shapes."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from infra.sandbox.crm.call import Call, Org, record_key
from infra.sandbox.crm.odata import BAD_PAYLOAD, INVALID_ARGUMENT, bad_request
from infra.sandbox.crm.privileges import DEPTH_NAMES, USER, catalogue, parse_rights
from infra.sandbox.crm.replies import no_content, read_object, utc_now
from infra.sandbox.crm.schema import EntitySet, entity_sets, set_of_logical_name
from infra.sandbox.crm.security_sets import link_id

Row = dict[str, Any]
_DEPTH_VALUES = {0: "Basic", 1: "Local", 2: "Deep", 3: "Global"}  # PrivilegeDepth EnumType
_PRINCIPALS = {"systemuser": ("systemusers", "systemuserid"), "team": ("teams", "teamid")}


def _depth(value: object) -> int:
    name = _DEPTH_VALUES.get(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(name, str) or name not in DEPTH_NAMES:
        raise bad_request(f"Invalid Depth {value!r}: Basic, Local, Deep or Global.", BAD_PAYLOAD)
    return DEPTH_NAMES[name]


async def add_privileges_role(org: Org, call: Call, role_id: str) -> Response:
    """{"Privileges": [{"PrivilegeId": ..., "Depth": "Basic", "BusinessUnitId": ...}]}: add, or change the
    depth of, privileges of the role."""
    role = org.existing(entity_sets()["roles"], role_id)
    call.caller.require(entity_sets()["roles"], role, "Write")
    body = await read_object(call.request)
    given = body.get("Privileges")
    if not isinstance(given, list) or not all(isinstance(p, dict) for p in given):
        raise bad_request("Privileges must be a list of RolePrivilege objects.", BAD_PAYLOAD)
    wanted: list[tuple[str, int]] = []
    for entry in given:
        privilege = catalogue().get(str(entry.get("PrivilegeId", "")).lower())
        if privilege is None:
            raise bad_request(f"Privilege With Id = {entry.get('PrivilegeId')} Does Not Exist", BAD_PAYLOAD)
        depth = _depth(entry.get("Depth"))
        if not privilege.allows(depth):
            raise bad_request(f"{privilege.name} cannot be given at depth {entry.get('Depth')}.", INVALID_ARGUMENT)
        wanted.append((privilege.privilegeid, depth))
    for privilege_id, depth in wanted:
        row_id = link_id("roleprivileges", role_id, privilege_id)
        current = org.store.get("roleprivilegescollection", row_id)
        if current is None or current.get("privilegedepthmask") != depth:
            row = {"roleprivilegeid": row_id, "roleid": role_id, "privilegeid": privilege_id,
                   "privilegedepthmask": depth}  # fmt: skip
            org.store.put("roleprivilegescollection", row_id, row)
    return no_content()


async def remove_privilege_role(org: Org, call: Call, role_id: str) -> Response:
    """{"PrivilegeId": ...}: the role no longer holds the privilege."""
    role = org.existing(entity_sets()["roles"], role_id)
    call.caller.require(entity_sets()["roles"], role, "Write")
    body = await read_object(call.request)
    privilege_id = record_key(entity_sets()["privileges"], str(body.get("PrivilegeId", "")))
    row_id = link_id("roleprivileges", role_id, privilege_id)
    if org.store.get("roleprivilegescollection", row_id) is not None:
        org.store.delete("roleprivilegescollection", row_id, utc_now())
    return no_content()


def entity_reference(org: Org, value: object, what: str) -> tuple[EntitySet, Row]:
    """{"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": ...} -> (entity set, the record)."""
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be an entity reference object.", BAD_PAYLOAD)
    logical = str(value.get("@odata.type", "")).lstrip("#").removeprefix("Microsoft.Dynamics.CRM.")
    spec = set_of_logical_name(logical)
    if spec is None or not isinstance(value.get(spec.key), str):
        raise bad_request(f"{what} needs @odata.type and its key, got {value!r}.", BAD_PAYLOAD)
    return spec, org.existing(spec, record_key(spec, value[spec.key]))


def _principal(org: Org, value: object, what: str) -> tuple[str, str]:
    """A systemuser or team reference -> (principal id, principaltypecode)."""
    spec, row = entity_reference(org, value, what)
    if spec.logical_name not in _PRINCIPALS:
        raise bad_request(f"{what} must be a systemuser or a team.", BAD_PAYLOAD)
    return str(row[spec.key]), spec.logical_name


def _shared_record(org: Org, call: Call, body: Row) -> tuple[EntitySet, Row]:
    spec, record = entity_reference(org, body.get("Target"), "Target")
    if spec.ownership != USER:
        raise bad_request(f"Records of {spec.logical_name} cannot be shared.", INVALID_ARGUMENT)
    call.caller.require(spec, record, "Share")
    return spec, record


async def grant_or_modify_access(org: Org, call: Call, modify: bool) -> Response:
    """GrantAccess adds rights to what the principal was given; ModifyAccess replaces them."""
    body = await read_object(call.request)
    spec, record = _shared_record(org, call, body)
    access = body.get("PrincipalAccess")
    if not isinstance(access, dict):
        raise bad_request("PrincipalAccess must be an object with AccessMask and Principal.", BAD_PAYLOAD)
    mask = parse_rights(access.get("AccessMask"))
    if mask is None:
        raise bad_request(f"Invalid AccessMask {access.get('AccessMask')!r}.", BAD_PAYLOAD)
    principal, kind = _principal(org, access.get("Principal"), "Principal")
    record_id = str(record[spec.key])
    row_id = link_id("principalobjectaccess", record_id, principal)
    current = org.store.get("principalobjectaccessset", row_id)
    if not modify and current is not None:
        mask |= int(current.get("accessrightsmask") or 0)
    org.store.put("principalobjectaccessset", row_id, {
        "principalobjectaccessid": row_id, "objectid": record_id, "objecttypecode": spec.logical_name,
        "principalid": principal, "principaltypecode": kind, "accessrightsmask": mask,
        "inheritedaccessrightsmask": 0, "changedon": utc_now(),
    })  # fmt: skip
    return no_content()


async def revoke_access(org: Org, call: Call) -> Response:
    """{"Target": ..., "Revokee": {...}}: the principal no longer has the record shared."""
    body = await read_object(call.request)
    spec, record = _shared_record(org, call, body)
    principal, _ = _principal(org, body.get("Revokee"), "Revokee")
    row_id = link_id("principalobjectaccess", str(record[spec.key]), principal)
    if org.store.get("principalobjectaccessset", row_id) is not None:
        org.store.delete("principalobjectaccessset", row_id, utc_now())
    return no_content()
