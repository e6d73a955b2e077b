"""`activitymimeattachments`: the file attachments of activities, secured through the activity they belong to.

As in Dynamics (activitymimeattachment entity reference), an attachment has no owner and no state: the caller
may read one when it may read the parent activity, and create, update or delete one when it may append to the
parent (prvAppendToActivity reaching it). The parent is bound on create through `objectid_activitypointer`
(or `objectid_<activity table>`) and read as `_objectid_value`; `objecttypecode` names the parent's table.
`body` is base64, shown only when selected; `filesize` is the decoded size, computed on write, and a body over
the organisation's `maxuploadfilesize` is refused. Writing an attachment leaves the parent's versionnumber as
it is; deleting the parent deletes its attachments (entities.py's `dependants`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from fastapi import Response

from infra.sandbox.crm.access import check
from infra.sandbox.crm.annotations import type_key, wanted
from infra.sandbox.crm.call import Call, Org
from infra.sandbox.crm.collection import CollectionQuery, View
from infra.sandbox.crm.entities import check_etag, written
from infra.sandbox.crm.odata import BAD_PAYLOAD, DUPLICATE, NOT_FOUND, ODataError, bad_request, parse_select
from infra.sandbox.crm.paging import context, page_size
from infra.sandbox.crm.records import BIND_SUFFIX, etag, parse_guid, parse_reference, show
from infra.sandbox.crm.replies import json_reply, no_content, read_object, utc_now
from infra.sandbox.crm.schema import ACTIVITY, ATTACHMENTS, EntitySet, record_sets, set_of_logical_name

Row = dict[str, Any]
# What a PATCH may change: the file itself; the parent and its table stay those it was created with.
UPDATABLE = frozenset({"filename", "mimetype", "body", "subject", "attachmentnumber"})
DEFAULT_COLUMNS = sorted(ATTACHMENTS.readable - {"body"})  # the body is large: only when selected
POINTER = "activitypointers"
_PARENT = type_key("objectid")  # the stored logical name of the parent's table


def _activity_sets() -> dict[str, EntitySet]:
    return {name: spec for name, spec in record_sets().items() if spec.privilege_entity == ACTIVITY}


async def attachment_set(org: Org, call: Call, record_id: str | None) -> Response:
    """GET, POST on the collection; GET, PATCH, DELETE on one attachment."""
    select = parse_select(call.query.get("$select"), ATTACHMENTS.readable, ATTACHMENTS.type_name) or DEFAULT_COLUMNS
    names = org.name_of if wanted(call.prefer) else None
    method = call.method
    if record_id is None and method == "GET":
        page = page_size(call.prefer, org.settings.crm_sandbox_page_size)
        tracking = "odata.track-changes" in call.prefer
        query = CollectionQuery(org.store, ATTACHMENTS, call.api_url, call.query, select, tracking, page,
                                _view(org, call), names)  # fmt: skip
        body, headers = query.answer()
        return json_reply(body, headers=headers)
    if record_id is None and method == "POST":
        row = _create(org, call, await read_object(call.request))
        return written(org, call, ATTACHMENTS, row, select, created=True)
    if record_id is None:
        raise ODataError(405, NOT_FOUND, f"{method} is not supported on the collection '{ATTACHMENTS.name}'.")
    existing = _existing(org, record_id)
    if method == "GET":
        _require(org, call, existing, "Read")
        shown = show(ATTACHMENTS, existing, select, names)
        body = {"@odata.context": context(call.api_url, ATTACHMENTS.name, select, "/$entity"), **shown}
        return json_reply(body, headers={"ETag": etag(existing)})
    _require(org, call, existing, "AppendTo")
    check_etag(call, existing)
    if method == "PATCH":
        row = _update(org, existing, await read_object(call.request))
        return written(org, call, ATTACHMENTS, row, select, created=False)
    if method == "DELETE":
        org.store.delete(ATTACHMENTS.name, record_id, utc_now())
        return no_content()
    raise ODataError(405, NOT_FOUND, f"{method} is not supported on a record of '{ATTACHMENTS.name}'.")


def _existing(org: Org, record_id: str) -> Row:
    row = org.store.get(ATTACHMENTS.name, record_id)
    if row is None:
        raise ODataError(404, NOT_FOUND, f"{ATTACHMENTS.logical_name} With Id = {record_id} Does Not Exist")
    return row


def _parent_of(org: Org, row: Row) -> tuple[EntitySet, Row] | None:
    spec = set_of_logical_name(str(row.get(_PARENT)))
    parent = org.store.get(spec.name, row["_objectid_value"]) if spec is not None else None
    return (spec, parent) if spec is not None and parent is not None else None


def _require(org: Org, call: Call, row: Row, verb: str) -> None:
    """The caller must be allowed `verb` on the parent activity (403 in the parent's words otherwise)."""
    found = _parent_of(org, row)
    if found is None:  # cannot happen while deletes cascade; refuse rather than expose an orphan
        raise ODataError(404, NOT_FOUND, f"The parent of {ATTACHMENTS.logical_name} {row[ATTACHMENTS.key]} is gone.")
    call.caller.require(found[0], found[1], verb)


def _view(org: Org, call: Call) -> View:
    """A collection shows only the attachments of parents the caller may read (decided once per parent)."""
    caller = call.caller
    if caller.unrestricted:
        return lambda row: row
    decided: dict[str, bool] = {}

    def view(row: Row) -> Row | None:
        parent_id = str(row.get("_objectid_value"))
        if parent_id not in decided:
            found = _parent_of(org, row)
            decided[parent_id] = found is not None and check(caller.state, caller.user, *found, "Read") is None
        return row if decided[parent_id] else None

    return view


def _bound_parent(org: Org, body: Row) -> tuple[EntitySet, Row]:
    """The activity named by `objectid_activitypointer@odata.bind` or `objectid_<table>@odata.bind`."""
    binds = [name for name in body if name.startswith("objectid") and name.endswith(BIND_SUFFIX)]
    if len(binds) != 1:
        raise bad_request("An attachment names its activity once: objectid_activitypointer@odata.bind.", BAD_PAYLOAD)
    reference = parse_reference(body.pop(binds[0]))
    activities = _activity_sets()
    named = binds[0][: -len(BIND_SUFFIX)].removeprefix("objectid").removeprefix("_")
    if reference is None or reference[0] not in {POINTER, *activities}:
        raise bad_request(f"Invalid @odata.bind value for '{binds[0]}'.", BAD_PAYLOAD)
    set_name, parent_id = reference
    if named not in ("activitypointer", "" if set_name == POINTER else activities[set_name].logical_name):
        raise bad_request(f"No such navigation property '{binds[0]}' on '{ATTACHMENTS.type_name}'.", BAD_PAYLOAD)
    candidates = activities.values() if set_name == POINTER else [activities[set_name]]
    for spec in candidates:
        parent = org.store.get(spec.name, parent_id)
        if parent is not None:
            return spec, parent
    logical = "activitypointer" if set_name == POINTER else activities[set_name].logical_name
    raise bad_request(f"{logical} With Id = {parent_id} Does Not Exist", BAD_PAYLOAD)


def _create(org: Org, call: Call, body: Row) -> Row:
    spec, parent = _bound_parent(org, body)
    call.caller.require(spec, parent, "AppendTo")
    given = body.pop(ATTACHMENTS.key, None)
    record_id = parse_guid(given) if given is not None else str(uuid.uuid4())
    if record_id is None:
        raise bad_request(f"Invalid value for the key '{ATTACHMENTS.key}': '{given}'.", BAD_PAYLOAD)
    if body.setdefault("objecttypecode", spec.logical_name) != spec.logical_name:
        raise bad_request(f"objecttypecode '{body['objecttypecode']}' is not the table of the activity "
                          f"({spec.logical_name}).", BAD_PAYLOAD)  # fmt: skip
    if org.store.get(ATTACHMENTS.name, record_id) is not None:
        raise ODataError(412, DUPLICATE, "A record with matching key values already exists.")
    parent_id = parent[spec.key]
    numbers = [int(r.get("attachmentnumber") or 0) for r in org.store.all_rows(ATTACHMENTS.name)
               if r.get("_objectid_value") == parent_id]  # fmt: skip
    row: Row = {ATTACHMENTS.key: record_id, "_objectid_value": parent_id, _PARENT: spec.logical_name,
                "attachmentnumber": max(numbers, default=0) + 1, "body": "", "filesize": 0}  # fmt: skip
    row.update(_values(org, body, ATTACHMENTS.writable))
    return org.store.put(ATTACHMENTS.name, record_id, row)


def _update(org: Org, existing: Row, body: Row) -> Row:
    row = {**existing, **_values(org, body, UPDATABLE)}
    return org.store.put(ATTACHMENTS.name, existing[ATTACHMENTS.key], row)


def _values(org: Org, body: Row, allowed: frozenset[str]) -> Row:
    """The attributes a body sets, `filesize` from the decoded body; 400 for anything else or a bad body."""
    values: Row = {}
    for name, value in body.items():
        if name.startswith("@"):
            continue  # instance annotations such as @odata.type carry no data
        if name not in allowed:
            state = "read-only" if name in ATTACHMENTS.readable else "not a property"
            raise bad_request(f"The property '{name}' of '{ATTACHMENTS.type_name}' is {state} here.", BAD_PAYLOAD)
        values[name] = value
    if "body" in values:
        values["filesize"] = _decoded_size(values["body"], org.settings.crm_sandbox_max_upload_file_size)
    return values


def _decoded_size(body: object, limit: int) -> int:
    if body is None:
        return 0
    try:
        size = len(base64.b64decode(body, validate=True)) if isinstance(body, str) else -1
    except (binascii.Error, ValueError):
        size = -1
    if size < 0:
        raise bad_request("The attachment's body is not valid base64.", BAD_PAYLOAD)
    if size > limit:
        raise bad_request(f"The attachment is {size} bytes: larger than the organisation's maximum upload file "
                          f"size (maxuploadfilesize) of {limit} bytes.", BAD_PAYLOAD)  # fmt: skip
    return size
