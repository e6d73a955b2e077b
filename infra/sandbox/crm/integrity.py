"""Integrity of the security tables on create and update: defaults and refusals (pure, no I/O).

A business unit hangs below the root unless given a parent, and the tree stays a tree; users, teams and
roles belong to a business unit (users to the root one, teams and roles to their creator's, by default);
only owner teams own records; a field permission names a secured attribute and allows with 4, refuses with 0;
a user or system query names its table and holds FetchXML querying it (filter_sets.py).
"""

from __future__ import annotations

from typing import Any

from infra.sandbox.crm.filter_sets import FILTER_SET_NAMES, check_query
from infra.sandbox.crm.odata import INVALID_ARGUMENT, bad_request
from infra.sandbox.crm.privileges import USER
from infra.sandbox.crm.schema import EntitySet, entity_sets
from infra.sandbox.crm.security_state import ALLOWED, SecurityState

Row = dict[str, Any]
OWNER_TEAM, ACCESS_TEAM = 0, 1
_PERMISSIONS = ("canread", "canupdate", "cancreate")


def prepare(spec: EntitySet, row: Row, existing: Row | None, state: SecurityState, caller_unit: str | None) -> Row:
    """The row to store, defaults filled in; a 400 when it would break the security tables."""
    row = dict(row)
    if spec.name == "businessunits":
        _unit(row, existing, state)
    elif spec.name == "systemusers":
        if row.get("_businessunitid_value") is None:
            row["_businessunitid_value"] = state.root
    elif spec.name in ("teams", "roles"):
        if existing is None and row.get("_businessunitid_value") is None:
            row["_businessunitid_value"] = caller_unit or state.root
        if spec.name == "teams":
            row.setdefault("teamtype", OWNER_TEAM)
            if row["teamtype"] not in (OWNER_TEAM, ACCESS_TEAM):
                raise bad_request(f"Invalid teamtype {row['teamtype']!r}: 0 (owner) or 1 (access).", INVALID_ARGUMENT)
    elif spec.name == "fieldpermissions":
        _field_permission(row, state)
    elif spec.name in FILTER_SET_NAMES:
        check_query(row, frozenset(s.logical_name for s in entity_sets().values()))
    if spec.ownership == USER and state.team_type.get(row.get("_ownerid_value") or "") == ACCESS_TEAM:
        raise bad_request("An access team cannot own records; assign the record to a user or an owner team.",
                          INVALID_ARGUMENT)  # fmt: skip
    return row


def _unit(row: Row, existing: Row | None, state: SecurityState) -> None:
    unit = row["businessunitid"]
    parent = row.get("_parentbusinessunitid_value")
    if unit == state.root:
        if parent is not None:
            raise bad_request("The root business unit cannot have a parent business unit.", INVALID_ARGUMENT)
        return
    if parent is None:
        if existing is not None and "_parentbusinessunitid_value" in row:
            raise bad_request("Only the root business unit has no parent business unit.", INVALID_ARGUMENT)
        row["_parentbusinessunitid_value"] = state.root
    elif parent in state.subtree(unit):
        raise bad_request("A business unit cannot be moved below itself or one of its descendants.",
                          INVALID_ARGUMENT)  # fmt: skip


def _field_permission(row: Row, state: SecurityState) -> None:
    if not row.get("_fieldsecurityprofileid_value"):
        raise bad_request("A field permission belongs to a field security profile (fieldsecurityprofileid).",
                          INVALID_ARGUMENT)  # fmt: skip
    entity, attribute = row.get("entityname"), row.get("attributelogicalname")
    if (entity, attribute) not in state.secured:
        raise bad_request(f"The attribute {attribute} of entity {entity} is not secured (IsSecured).", INVALID_ARGUMENT)
    for name in _PERMISSIONS:
        row.setdefault(name, 0)
        if row[name] not in (0, ALLOWED):
            raise bad_request(f"Invalid {name} {row[name]!r}: 0 (not allowed) or 4 (allowed).", INVALID_ARGUMENT)


def refuse_delete(spec: EntitySet, record_id: str, state: SecurityState) -> None:
    """A business unit is deleted only when nothing belongs to it any more (and never the root)."""
    if spec.name != "businessunits":
        return
    if record_id == state.root:
        raise bad_request("The root business unit cannot be deleted.", INVALID_ARGUMENT)
    members = (
        state.children.get(record_id)
        or any(unit == record_id for unit in state.user_unit.values())
        or any(unit == record_id for unit in state.team_unit.values())
        or any(unit == record_id for unit in state.role_unit.values())
    )
    if members:
        raise bad_request("The business unit still has child business units, users, teams or roles.",
                          INVALID_ARGUMENT)  # fmt: skip
