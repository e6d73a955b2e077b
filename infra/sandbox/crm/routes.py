"""Web API routes: one handler for `/api/data/v9.2/...` that resolves the caller and dispatches the path.

    <set> | <set>(<id>)                                  entities.py   records
    activitymimeattachments[(<id>)]                      attachments.py (secured through the parent activity)
    <set>(<id>)/<relationship>[(<id>)][/$ref]            associations.py
    roles(<id>)/Microsoft.Dynamics.CRM.AddPrivilegesRole  actions.py   (also RemovePrivilegeRole)
    GrantAccess | ModifyAccess | RevokeAccess            actions.py
    WhoAmI | RetrieveSharedPrincipalsAndAccess(...)      functions.py  (also the bound functions below)
    systemusers(<id>)/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(...) | ...RetrieveUserPrivileges()
    EntityDefinitions(LogicalName='<table>')/Attributes  metadata.py
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from infra.sandbox.crm import actions, functions
from infra.sandbox.crm.associations import navigation
from infra.sandbox.crm.attachments import attachment_set
from infra.sandbox.crm.auth import require_token
from infra.sandbox.crm.call import Call, Org, entity_set_named, record_key
from infra.sandbox.crm.entities import entity_set
from infra.sandbox.crm.guard import resolve_caller
from infra.sandbox.crm.metadata import attributes
from infra.sandbox.crm.odata import NOT_FOUND, ODataError, parse_prefer
from infra.sandbox.crm.path import Segment, parse_path
from infra.sandbox.crm.schema import ATTACHMENTS
from infra.sandbox.crm.settings import API_PATH

NAMESPACE = "Microsoft.Dynamics.CRM."


def _not_found(segments: list[Segment]) -> ODataError:
    path = "/".join(s.name + (f"({s.key})" if s.key is not None else "") for s in segments)
    return ODataError(404, NOT_FOUND, f"Resource not found for the segment '{path}'.")


async def _unbound(org: Org, call: Call, segment: Segment) -> Response | None:
    method, name = call.method, segment.name.removeprefix(NAMESPACE)
    if method == "GET" and name == "WhoAmI":
        return functions.who_am_i(org, call)
    if method == "GET" and name == "RetrieveSharedPrincipalsAndAccess":
        return functions.retrieve_shared_principals_and_access(org, call, segment)
    if method == "POST" and name in ("GrantAccess", "ModifyAccess"):
        return await actions.grant_or_modify_access(org, call, modify=name == "ModifyAccess")
    if method == "POST" and name == "RevokeAccess":
        return await actions.revoke_access(org, call)
    return None


async def _bound(org: Org, call: Call, set_name: str, record_id: str, segment: Segment) -> Response:
    name, method = segment.name.removeprefix(NAMESPACE), call.method
    if set_name == "roles" and method == "POST" and name == "AddPrivilegesRole":
        return await actions.add_privileges_role(org, call, record_id)
    if set_name == "roles" and method == "POST" and name == "RemovePrivilegeRole":
        return await actions.remove_privilege_role(org, call, record_id)
    if set_name in ("systemusers", "teams") and method == "GET" and name == "RetrievePrincipalAccess":
        return functions.retrieve_principal_access(org, call, record_id, segment)
    if set_name == "systemusers" and method == "GET" and name == "RetrieveUserPrivileges":
        return functions.retrieve_user_privileges(org, call, record_id)
    raise ODataError(404, NOT_FOUND, f"No {method} operation '{segment.name}' bound to '{set_name}'.")


async def dispatch(org: Org, request: Request, path: str) -> Response:
    token_user = require_token(request, org.store)
    caller = resolve_caller(request, org.store, org.security, org.application_user, token_user)
    api_url = str(request.base_url).rstrip("/") + API_PATH
    prefer = parse_prefer(request.headers.getlist("prefer"))
    call = Call(request, api_url, caller, dict(request.query_params), prefer)
    segments = parse_path(path)
    first = segments[0]
    if len(segments) == 1 and (answer := await _unbound(org, call, first)) is not None:
        return answer
    if first.name == "EntityDefinitions":
        return await attributes(org, call, segments)
    if first.name == ATTACHMENTS.name and len(segments) == 1:
        return await attachment_set(org, call, record_key(ATTACHMENTS, first.key) if first.key is not None else None)
    spec = entity_set_named(first.name)
    record_id = record_key(spec, first.key) if first.key is not None else None
    if len(segments) == 1:
        return await entity_set(org, call, spec, record_id)
    if record_id is None:
        raise _not_found(segments)
    org.existing(spec, record_id)
    if len(segments) == 2 and segments[1].name.startswith(NAMESPACE):
        return await _bound(org, call, spec.name, record_id, segments[1])
    return await navigation(org, call, spec, record_id, segments[1:])


def web_api_router(org: Org) -> APIRouter:
    router = APIRouter(tags=["webapi"])

    @router.api_route(API_PATH + "{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    async def web_api(request: Request, path: str) -> Response:
        return await dispatch(org, request, path)

    return router
