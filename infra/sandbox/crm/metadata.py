"""Attribute definitions: `EntityDefinitions(LogicalName='<table>')/Attributes[(LogicalName='<column>')]`.

Read by anyone (GET, with $select and $filter); a System Administrator secures a column by PUT of its
definition with `IsSecured` (a body holding at least `@odata.type`, `LogicalName` and `IsSecured`, as the
Web API's "Update a column" takes the whole definition). Only plain writable columns can be secured.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Response

from infra.sandbox.crm.call import Call, Org
from infra.sandbox.crm.odata import (
    BAD_PAYLOAD,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PRIVILEGE_DENIED,
    ODataError,
    bad_request,
    parse_filter,
    parse_select,
)
from infra.sandbox.crm.path import Segment
from infra.sandbox.crm.replies import json_reply, no_content, read_object
from infra.sandbox.crm.schema import EntitySet, set_of_logical_name

METADATA_TABLE = "attributemetadata"
_TYPE = "#Microsoft.Dynamics.CRM.AttributeMetadata"
_SYSTEM = ("createdon", "modifiedon", "versionnumber", "createdby", "modifiedby", "createdonbehalfby",
           "modifiedonbehalfby")  # fmt: skip
PROPERTIES = frozenset({
    "MetadataId", "LogicalName", "EntityLogicalName", "IsSecured", "CanBeSecuredForCreate", "CanBeSecuredForRead",
    "CanBeSecuredForUpdate",
})  # fmt: skip
_NAMESPACE = uuid.UUID("0e6b9d47-2a1c-4f8e-b3d5-7c9a1e2f4b60")
Row = dict[str, Any]


def metadata_id(entity: str, attribute: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{entity}.{attribute}"))


def _attributes(spec: EntitySet) -> list[str]:
    state = {"statecode", "statuscode"} if spec.has_state else set()
    return sorted(spec.writable | spec.computed | spec.lookups | state | {spec.key, *_SYSTEM})


def _definition(org: Org, spec: EntitySet, attribute: str) -> Row:
    stored = org.store.get(METADATA_TABLE, metadata_id(spec.logical_name, attribute)) or {}
    securable = attribute in spec.writable
    return {
        "@odata.type": stored.get("@odata.type", _TYPE), "MetadataId": metadata_id(spec.logical_name, attribute),
        "LogicalName": attribute, "EntityLogicalName": spec.logical_name, "IsSecured": bool(stored.get("IsSecured")),
        "CanBeSecuredForCreate": securable, "CanBeSecuredForRead": securable, "CanBeSecuredForUpdate": securable,
    }  # fmt: skip


def _shown(definition: Row, select: list[str] | None) -> Row:
    names = [*select, "MetadataId"] if select else sorted(PROPERTIES)
    return {"@odata.type": definition["@odata.type"], **{name: definition[name] for name in names}}


async def attributes(org: Org, call: Call, segments: list[Segment]) -> Response:
    """segments: [EntityDefinitions(LogicalName='x'), Attributes] or [..., Attributes(LogicalName='y')]."""
    table = segments[0].named().get("LogicalName", "")
    spec = set_of_logical_name(table)
    if spec is None:
        raise ODataError(404, NOT_FOUND, f"Could not find an entity with LogicalName = '{table}'.")
    if len(segments) != 2 or segments[1].name != "Attributes":
        raise ODataError(404, NOT_FOUND, "Only EntityDefinitions(...)/Attributes is served by the sandbox.")
    select = parse_select(call.query.get("$select"), PROPERTIES, "Microsoft.Dynamics.CRM.AttributeMetadata")
    base = f"{call.api_url}$metadata#EntityDefinitions('{table}')/Attributes"
    selected = f"({','.join(select)})" if select else ""
    if segments[1].key is None:
        if call.method != "GET":
            raise ODataError(405, NOT_FOUND, f"{call.method} is not supported on Attributes.")
        predicate = parse_filter(call.query.get("$filter"), PROPERTIES, "Microsoft.Dynamics.CRM.AttributeMetadata")
        found = [_definition(org, spec, a) for a in _attributes(spec)]
        values = [_shown(d, select) for d in found if predicate is None or predicate(d)]
        return json_reply({"@odata.context": f"{base}{selected}", "value": values})
    attribute = segments[1].named().get("LogicalName", "")
    if attribute not in _attributes(spec):
        raise ODataError(404, NOT_FOUND, f"Could not find an attribute with LogicalName = '{attribute}' on {table}.")
    if call.method == "GET":
        definition = _definition(org, spec, attribute)
        return json_reply({"@odata.context": f"{base}{selected}/$entity", **_shown(definition, select)})
    if call.method == "PUT":
        await _secure(org, call, spec, attribute)
        return no_content()
    raise ODataError(405, NOT_FOUND, f"{call.method} is not supported on an attribute definition.")


async def _secure(org: Org, call: Call, spec: EntitySet, attribute: str) -> None:
    if not call.caller.is_administrator():
        raise ODataError(403, PRIVILEGE_DENIED,
                         f"Principal user (Id={call.caller.user}, type=8) is missing prvWriteAttribute privilege.")
    body = await read_object(call.request)
    kind, name, secured = body.get("@odata.type"), body.get("LogicalName"), body.get("IsSecured")
    if not isinstance(kind, str) or not kind.endswith("AttributeMetadata") or name != attribute:
        raise bad_request("The definition needs @odata.type (an AttributeMetadata type) and the LogicalName "
                          f"'{attribute}' of the path.", BAD_PAYLOAD)  # fmt: skip
    if not isinstance(secured, bool):
        raise bad_request("IsSecured must be true or false.", BAD_PAYLOAD)
    if secured and attribute not in spec.writable:
        raise bad_request(f"The attribute {attribute} of {spec.logical_name} cannot be secured.", INVALID_ARGUMENT)
    row_id = metadata_id(spec.logical_name, attribute)
    row = {"MetadataId": row_id, "EntityLogicalName": spec.logical_name, "LogicalName": attribute,
           "IsSecured": secured, "@odata.type": "#" + kind.lstrip("#")}  # fmt: skip
    stored = org.store.get(METADATA_TABLE, row_id)
    if stored is None or {k: stored.get(k) for k in row} != row:
        org.store.put(METADATA_TABLE, row_id, row)
