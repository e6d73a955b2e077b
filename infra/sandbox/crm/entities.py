"""`<set>` and `<set>(<id>)`: query, create, read, update and delete records, under the caller's security."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Response

from infra.sandbox.crm.annotations import Names, wanted
from infra.sandbox.crm.call import Call, Org
from infra.sandbox.crm.collection import CollectionQuery
from infra.sandbox.crm.guard import masked
from infra.sandbox.crm.integrity import prepare, refuse_delete
from infra.sandbox.crm.odata import DUPLICATE, NOT_FOUND, STALE_ETAG, ODataError, parse_select
from infra.sandbox.crm.paging import context, page_size
from infra.sandbox.crm.records import BIND_SUFFIX, apply_body, etag, show
from infra.sandbox.crm.replies import json_reply, no_content, read_body, utc_now
from infra.sandbox.crm.schema import ACTIVITY, ATTACHMENTS, EntitySet, entity_sets
from infra.sandbox.crm.security_sets import RELATIONSHIPS, link_id

Row = dict[str, Any]


async def entity_set(org: Org, call: Call, spec: EntitySet, record_id: str | None) -> Response:
    select = parse_select(call.query.get("$select"), spec.readable, spec.type_name)
    method = call.method
    if record_id is None and method == "GET":
        page = page_size(call.prefer, org.settings.crm_sandbox_page_size)
        tracking = "odata.track-changes" in call.prefer
        view = call.caller.view(spec)
        query = CollectionQuery(org.store, spec, call.api_url, call.query, select, tracking, page, view,
                                _names(org, call))  # fmt: skip
        body, headers = query.answer()
        return json_reply(body, headers=headers)
    if method in ("POST", "PATCH", "DELETE") and spec.read_only:
        raise ODataError(405, NOT_FOUND, f"{method} is not supported on '{spec.name}': it changes through its actions.")
    if record_id is None and method == "POST":
        return await _create(org, call, spec, select)
    if record_id is None:
        raise ODataError(405, NOT_FOUND, f"{method} is not supported on the collection '{spec.name}'.")
    if method == "GET":
        row = call.caller.readable(spec, org.existing(spec, record_id))
        shown = show(spec, row, select, _names(org, call))
        body = {"@odata.context": context(call.api_url, spec.name, select, "/$entity"), **shown}
        return json_reply(body, headers={"ETag": etag(row)})
    if method == "PATCH":
        return await _update(org, call, spec, record_id, select)
    if method == "DELETE":
        return _delete(org, call, spec, record_id)
    raise ODataError(405, NOT_FOUND, f"{method} is not supported on a record of '{spec.name}'.")


def _names(org: Org, call: Call) -> Names | None:
    """The lookup names resolver when the caller asked for annotations (Prefer: odata.include-annotations)."""
    return org.name_of if wanted(call.prefer) else None


def check_etag(call: Call, row: Row) -> None:
    wanted = call.request.headers.get("if-match")
    if wanted is not None and wanted.strip() != "*" and wanted.strip() != etag(row):
        raise ODataError(
            412, STALE_ETAG, "The version of the existing record doesn't match the RowVersion property provided."
        )


async def _create(org: Org, call: Call, spec: EntitySet, select: list[str] | None) -> Response:
    body = await read_body(call.request)
    caller, state = call.caller, call.caller.state
    row = apply_body(
        spec, body, None, new_id=str(uuid.uuid4()), caller=caller.user, now=utc_now(), exists=org.exists,
        on_behalf_of=caller.on_behalf_of,
    )  # fmt: skip
    row = prepare(spec, row, None, state, state.unit_of(caller.user))
    caller.require(spec, row, "Create")
    caller.check_secured_values(spec, body, creating=True)
    if org.store.get(spec.name, row[spec.key]) is not None:
        raise ODataError(412, DUPLICATE, "A record with matching key values already exists.")
    row = org.store.put(spec.name, row[spec.key], row)
    return written(org, call, spec, row, select, created=True)


async def _update(org: Org, call: Call, spec: EntitySet, record_id: str, select: list[str] | None) -> Response:
    body = await read_body(call.request)
    caller = call.caller
    existing = org.existing(spec, record_id)
    caller.require(spec, existing, "Write")
    if isinstance(body, dict) and any(name.startswith("ownerid") and name.endswith(BIND_SUFFIX) for name in body):
        caller.require(spec, existing, "Assign")  # a change of owner is an assignment
    check_etag(call, existing)
    caller.check_secured_values(spec, body, creating=False)
    row = apply_body(
        spec, body, existing, new_id=record_id, caller=caller.user, now=utc_now(), exists=org.exists,
        on_behalf_of=caller.on_behalf_of,
    )  # fmt: skip
    row = org.store.put(spec.name, record_id, prepare(spec, row, existing, caller.state, None))
    return written(org, call, spec, row, select, created=False)


def _delete(org: Org, call: Call, spec: EntitySet, record_id: str) -> Response:
    existing = org.existing(spec, record_id)
    call.caller.require(spec, existing, "Delete")
    check_etag(call, existing)
    refuse_delete(spec, record_id, call.caller.state)
    now = utc_now()
    org.store.delete(spec.name, record_id, now)
    for entity, row_id in dependants(org, spec, record_id):
        org.store.delete(entity, row_id, now)
    return no_content()


def dependants(org: Org, spec: EntitySet, record_id: str) -> list[tuple[str, str]]:
    """The rows that go with a deleted record: its shares, its associations, an activity's attachments, a profile's
    field permissions."""
    state = org.security.state()
    found = [("principalobjectaccessset", link_id("principalobjectaccess", record_id, p))
             for p in state.shares.get(record_id, {})]  # fmt: skip
    found += [("principalobjectaccessset", link_id("principalobjectaccess", obj, record_id))
              for obj, holders in state.shares.items() if record_id in holders]  # fmt: skip
    for relationship in RELATIONSHIPS.values():
        sides = relationship.other(spec.name)
        if sides is not None:
            attribute, key = sides[0][1], entity_sets()[relationship.intersect].key
            found += [(relationship.intersect, r[key]) for r in org.store.all_rows(relationship.intersect)
                      if r.get(attribute) == record_id]  # fmt: skip
    if spec.privilege_entity == ACTIVITY:  # an activity's attachments go with it (attachments.py)
        found += [(ATTACHMENTS.name, r[ATTACHMENTS.key]) for r in org.store.all_rows(ATTACHMENTS.name)
                  if r.get("_objectid_value") == record_id]  # fmt: skip
    if spec.name == "fieldsecurityprofiles":
        found += [("fieldpermissions", r["fieldpermissionid"]) for r in org.store.all_rows("fieldpermissions")
                  if r.get("_fieldsecurityprofileid_value") == record_id]  # fmt: skip
    return found


def written(org: Org, call: Call, spec: EntitySet, row: Row, select: list[str] | None, created: bool) -> Response:
    headers = {"OData-EntityId": f"{call.api_url}{spec.name}({row[spec.key]})", "ETag": etag(row)}
    if call.prefer.get("return") == "representation":
        headers["Preference-Applied"] = "return=representation"
        seen = masked(row, call.caller.fields(spec).hidden)
        shown = show(spec, seen, select, _names(org, call))
        body = {"@odata.context": context(call.api_url, spec.name, select, "/$entity"), **shown}
        return json_reply(body, status=201 if created else 200, headers=headers)
    return no_content(headers)
