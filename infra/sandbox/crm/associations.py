"""Many-to-many navigation: `<set>(<id>)/<relationship>` lists, `.../$ref` associates and disassociates.

As the Web API documents it ("Associate and disassociate table rows"): POST `<set>(<id>)/<nav>/$ref` with
{"@odata.id": "<api>/<other set>(<id>)"}; DELETE `<set>(<id>)/<nav>(<other id>)/$ref` or
`<set>(<id>)/<nav>/$ref?$id=<api>/<other set>(<id>)`. Each association is one row of the intersect set.
"""

from __future__ import annotations

from fastapi import Response

from infra.sandbox.crm.call import Call, Org, entity_set_named, record_key
from infra.sandbox.crm.integrity import ACCESS_TEAM
from infra.sandbox.crm.odata import (
    BAD_PAYLOAD,
    DUPLICATE,
    INVALID_ARGUMENT,
    NOT_FOUND,
    ODataError,
    bad_request,
    parse_select,
)
from infra.sandbox.crm.paging import context
from infra.sandbox.crm.path import Segment
from infra.sandbox.crm.records import parse_reference, show
from infra.sandbox.crm.replies import json_reply, no_content, read_object, utc_now
from infra.sandbox.crm.schema import EntitySet
from infra.sandbox.crm.security_sets import RELATIONSHIPS, Relationship, link_id


async def navigation(org: Org, call: Call, spec: EntitySet, record_id: str, segments: list[Segment]) -> Response:
    """segments: [<nav>] or [<nav>, $ref] or [<nav>(<other id>), $ref]."""
    nav, rest = segments[0], segments[1:]
    relationship = RELATIONSHIPS.get(nav.name)
    sides = relationship.other(spec.name) if relationship else None
    if relationship is None or sides is None:
        raise ODataError(404, NOT_FOUND, f"No navigation property '{nav.name}' on '{spec.type_name}'.")
    other = entity_set_named(sides[1][0])
    anchor = org.existing(spec, record_id)
    if not rest and nav.key is None and call.method == "GET":
        call.caller.require(spec, anchor, "Read")
        return _list(org, call, relationship.intersect, sides, record_id, other)
    if [s.name for s in rest] != ["$ref"] or not relationship.associable:
        raise ODataError(405, NOT_FOUND, f"{call.method} is not supported on '{nav.name}'.")
    if call.method == "POST" and nav.key is None:
        body = await read_object(call.request)
        other_id = _reference(body.get("@odata.id"), other)
    elif call.method == "DELETE":
        other_id = record_key(other, nav.key) if nav.key is not None else _reference(call.query.get("$id"), other)
    else:
        raise ODataError(405, NOT_FOUND, f"{call.method} is not supported on '{nav.name}/$ref'.")
    target = org.existing(other, other_id)
    call.caller.require(spec, anchor, "Append")
    call.caller.require(other, target, "Append")
    ids = {spec.name: record_id, other.name: other_id}
    first, second = ids[relationship.first[0]], ids[relationship.second[0]]
    if call.method == "POST":
        _associate(org, relationship, first, second)
    elif org.store.get(relationship.intersect, link_id(relationship.name, first, second)) is not None:
        org.store.delete(relationship.intersect, link_id(relationship.name, first, second), utc_now())
    return no_content()


def _reference(value: object, other: EntitySet) -> str:
    found = parse_reference(value)
    if found is None or found[0] != other.name:
        raise bad_request(f"Expected a reference to '{other.name}' in @odata.id, got {value!r}.", BAD_PAYLOAD)
    return found[1]


def _associate(org: Org, relationship: Relationship, first: str, second: str) -> None:
    row_id = link_id(relationship.name, first, second)
    if org.store.get(relationship.intersect, row_id) is not None:
        raise ODataError(412, DUPLICATE, "Cannot insert duplicate key.")
    if relationship.name == "teamroles_association":
        team = org.store.get("teams", first) or {}
        if team.get("teamtype") == ACCESS_TEAM:
            raise bad_request("Security roles cannot be assigned to an access team.", INVALID_ARGUMENT)
    key = entity_set_named(relationship.intersect).key
    row = {key: row_id, relationship.first[1]: first, relationship.second[1]: second}
    org.store.put(relationship.intersect, row_id, row)


def _list(org: Org, call: Call, intersect: str, sides: tuple[tuple[str, str], tuple[str, str]], record_id: str,
          other: EntitySet) -> Response:  # fmt: skip
    """The records on the other side, as the caller may see them."""
    (_, mine), (_, theirs) = sides
    select = parse_select(call.query.get("$select"), other.readable, other.type_name)
    view = call.caller.view(other)
    rows = []
    for link in org.store.all_rows(intersect):
        if link.get(mine) == record_id:
            row = org.store.get(other.name, link.get(theirs) or "")
            seen = view(row) if row is not None else None
            if seen is not None:
                rows.append(show(other, seen, select))
    rows.sort(key=lambda r: r[other.key])
    return json_reply({"@odata.context": context(call.api_url, other.name, select), "value": rows})
