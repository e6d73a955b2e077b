"""The functions: WhoAmI, RetrievePrincipalAccess and RetrieveUserPrivileges (bound to a user or team), and
RetrieveSharedPrincipalsAndAccess, answering from the same rules the checks use.

A record parameter is passed as a parameter alias, as documented ("Use Web API functions"):
`RetrievePrincipalAccess(Target=@p1)?@p1={'@odata.id':'contacts(<id>)'}` (relative or full URI).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Response

from infra.sandbox.crm.access import rights, user_privileges
from infra.sandbox.crm.call import Call, Org
from infra.sandbox.crm.odata import BAD_PAYLOAD, bad_request
from infra.sandbox.crm.path import Segment
from infra.sandbox.crm.privileges import DEPTH_OF_MASK, rights_text
from infra.sandbox.crm.records import parse_reference
from infra.sandbox.crm.replies import json_reply
from infra.sandbox.crm.schema import EntitySet, entity_sets

# The sandbox is one organisation; its id is fixed so WhoAmI answers the same across restarts.
ORGANIZATION_ID = "5a9d6c1e-0f3b-4f55-9c1d-5bd1f1e0a001"
_ODATA_ID = re.compile(r"""['"]@odata\.id['"]\s*:\s*['"](?P<uri>[^'"]+)['"]""")
Row = dict[str, Any]


def _response(call: Call, name: str, body: dict[str, Any]) -> Response:
    return json_reply({"@odata.context": f"{call.api_url}$metadata#Microsoft.Dynamics.CRM.{name}", **body})


def who_am_i(org: Org, call: Call) -> Response:
    """The systemuser the call acts as, its business unit and the organisation."""
    user = org.store.get("systemusers", call.caller.user) or {}
    return _response(call, "WhoAmIResponse", {
        "BusinessUnitId": user.get("_businessunitid_value"), "UserId": call.caller.user,
        "OrganizationId": ORGANIZATION_ID,
    })  # fmt: skip


def target_parameter(org: Org, call: Call, segment: Segment) -> tuple[EntitySet, Row]:
    """The record a `Target=@alias` parameter names; 400 when missing or malformed, 404 when unknown."""
    alias = segment.named().get("Target", "")
    raw = call.query.get(alias, "") if alias.startswith("@") else ""
    match = _ODATA_ID.search(raw)
    found = parse_reference(match.group("uri")) if match else None
    spec = entity_sets().get(found[0]) if found else None
    if found is None or spec is None:
        raise bad_request(f"Target must be {{'@odata.id':'<set>(<id>)'}} in a parameter alias, got {raw!r}.",
                          BAD_PAYLOAD)  # fmt: skip
    return spec, org.existing(spec, found[1])


def retrieve_principal_access(org: Org, call: Call, principal: str, segment: Segment) -> Response:
    """{"AccessRights": "ReadAccess, WriteAccess"}: what the principal may do to the Target record."""
    spec, record = target_parameter(org, call, segment)
    call.caller.require(spec, record, "Read")
    mask = rights(call.caller.state, principal, spec, record)
    return _response(call, "RetrievePrincipalAccessResponse", {"AccessRights": rights_text(mask)})


def retrieve_user_privileges(org: Org, call: Call, principal: str) -> Response:
    """{"RolePrivileges": [{"Depth", "PrivilegeId", "BusinessUnitId", "PrivilegeName"}]}: every privilege the
    user holds through its roles and its teams' roles, at the highest depth it holds it."""
    privileges = [
        {"Depth": DEPTH_OF_MASK[depth], "PrivilegeId": privilege.privilegeid, "BusinessUnitId": unit,
         "PrivilegeName": privilege.name}
        for privilege, depth, unit in user_privileges(call.caller.state, principal)
    ]  # fmt: skip
    return _response(call, "RetrieveUserPrivilegesResponse", {"RolePrivileges": privileges})


def retrieve_shared_principals_and_access(org: Org, call: Call, segment: Segment) -> Response:
    """{"PrincipalAccesses": [{"AccessMask": ..., "Principal": {"@odata.type", "ownerid"}}]}: who the record
    is shared with, and with which rights."""
    spec, record = target_parameter(org, call, segment)
    call.caller.require(spec, record, "Read")
    state = call.caller.state
    shares = state.shares.get(str(record[spec.key]), {})
    accesses = [
        {"AccessMask": rights_text(mask), "Principal": {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{'team' if state.is_team(holder) else 'systemuser'}",
            "ownerid": holder,
        }}
        for holder, mask in sorted(shares.items())
        if mask
    ]  # fmt: skip
    return _response(call, "RetrieveSharedPrincipalsAndAccessResponse", {"PrincipalAccesses": accesses})
