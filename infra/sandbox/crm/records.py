"""How a request body changes a stored row and how a row is shown (pure: ids, clock, lookups passed in)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from infra.sandbox.crm.annotations import LOGICAL, Names, annotate
from infra.sandbox.crm.odata import BAD_PAYLOAD, Row, bad_request
from infra.sandbox.crm.recurrence_values import check_recurrence_values
from infra.sandbox.crm.schema import DEFAULT_STATE, EntitySet, bind_targets, entity_sets

BIND_SUFFIX = "@odata.bind"
_BIND_VALUE = re.compile(r"^(?:.*/)?(?P<set>\w+)\((?P<id>[0-9a-fA-F-]{36})\)$")
# Lookups whose target must exist (and be of these sets): a record owned by a missing user would poison the
# security tables. A record is owned by a user or by a team.
_CHECKED_BINDS = {
    "ownerid": ("systemusers", "teams"),
    "businessunitid": ("businessunits",),
    "parentbusinessunitid": ("businessunits",),
    "fieldsecurityprofileid": ("fieldsecurityprofiles",),
    # A customer lookup names an account or a contact; the synced activities' regarding, the same two here.
    "parentcustomerid": ("accounts", "contacts"),
    "regardingobjectid": ("accounts", "contacts"),
    "parentaccountid": ("accounts",),
}


def parse_guid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except (ValueError, AttributeError, TypeError):
        return None


def parse_reference(value: object) -> tuple[str, str] | None:
    """`[<api url>/]<set>(<guid>)` (an @odata.bind or @odata.id value) -> (entity set, guid)."""
    match = _BIND_VALUE.match(value) if isinstance(value, str) else None
    record_id = parse_guid(match.group("id")) if match else None
    return (match.group("set"), record_id) if match and record_id else None


def _lookup_for(spec: EntitySet, name: str) -> str:
    """`regardingobjectid_contact` -> `regardingobjectid`; anything else unknown is a 400."""
    for lookup in spec.lookups:
        if name == lookup or name.startswith(lookup + "_"):
            return lookup
    raise bad_request(
        f"An undeclared property '{name}' which only has property annotations in the payload but no "
        f"property value was found in the payload. No such navigation property on '{spec.type_name}'."
    )


def _bind(
    spec: EntitySet, name: str, value: Any, exists: Callable[[str, str], bool]
) -> tuple[str, Any, str | None]:
    """(`_<lookup>_value`, the target's guid or None, the target's logical name): `<lookup>_<table>` must bind
    a record of that table (`parentcustomerid_account` an account), which must exist."""
    lookup = _lookup_for(spec, name)
    if value is None:
        return f"_{lookup}_value", None, None
    match = _BIND_VALUE.match(value) if isinstance(value, str) else None
    target_id = parse_guid(match.group("id")) if match else None
    if not match or target_id is None or match.group("set") not in bind_targets():
        raise bad_request(f"Invalid @odata.bind value for '{name}': '{value}'.", BAD_PAYLOAD)
    allowed = _CHECKED_BINDS.get(lookup)
    target_set = match.group("set")
    logical = entity_sets()[target_set].logical_name
    named = name[len(lookup) + 1:] if name != lookup else None  # the table the navigation property names
    if named is not None and allowed and named not in {entity_sets()[t].logical_name for t in allowed}:
        raise bad_request(f"No such navigation property '{name}' on '{spec.type_name}'.", BAD_PAYLOAD)
    if named is not None and named != logical:
        raise bad_request(f"Invalid @odata.bind value for '{name}': '{value}' is not a record of '{named}'.",
                          BAD_PAYLOAD)  # fmt: skip
    if allowed and (target_set not in allowed or not exists(target_set, target_id)):
        raise bad_request(f"{(target_set if target_set in allowed else allowed[0])[:-1]} With Id = {target_id} "
                          "Does Not Exist", BAD_PAYLOAD)  # fmt: skip
    return f"_{lookup}_value", target_id, logical


def apply_body(
    spec: EntitySet,
    body: Any,
    existing: Row | None,
    *,
    new_id: str,
    caller: str,
    now: str,
    exists: Callable[[str, str], bool],
    on_behalf_of: str | None = None,
) -> Row:
    """The row to store after a POST (existing is None) or a PATCH of `existing` with `body`.

    `caller` is the user the call acts as; `on_behalf_of` the real caller of an impersonated call.
    """
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", BAD_PAYLOAD)
    row: Row = dict(existing) if existing else {}
    writable = spec.writable | ({"statecode", "statuscode"} if spec.has_state else set())
    for name, value in body.items():
        if name.endswith(BIND_SUFFIX):
            attribute, target, logical = _bind(spec, name[: -len(BIND_SUFFIX)], value, exists)
            row[attribute] = target
            row[attribute + LOGICAL] = logical  # the table it points to: annotations.py
        elif name.startswith("@"):
            continue  # instance annotations such as @odata.type carry no data
        elif name == spec.key:
            given = parse_guid(value) if isinstance(value, str) else None
            if given is None or (existing is not None and given != existing[spec.key]):
                raise bad_request(f"Invalid value for the key '{name}': '{value}'.", BAD_PAYLOAD)
            new_id = given
        elif name in writable:
            row[name] = value
        elif name in spec.readable:
            raise bad_request(f"The property '{name}' of '{spec.type_name}' is read-only.", BAD_PAYLOAD)
        else:
            raise bad_request(
                f"The property '{name}' does not exist on type '{spec.type_name}'. "
                "Make sure to only use property names that are defined by the type.",
                BAD_PAYLOAD,
            )
    if existing is None:
        state = DEFAULT_STATE.get(spec.logical_name)
        if state and spec.has_state:
            row.setdefault("statecode", state[0])
            row.setdefault("statuscode", state[1])
        if "ownerid" in spec.lookups:
            row.setdefault("_ownerid_value", caller)
        row.update({spec.key: new_id, "createdon": now, "_createdby_value": caller})
        row["_createdonbehalfby_value"] = on_behalf_of
    row.update({"modifiedon": now, "_modifiedby_value": caller, "_modifiedonbehalfby_value": on_behalf_of})
    check_recurrence_values(spec.logical_name, row)
    return row


def etag(row: Row) -> str:
    return f'W/"{row["versionnumber"]}"'


def show(spec: EntitySet, row: Row, select: list[str] | None, names: Names | None = None) -> Row:
    """A row as the Web API returns it: etag first, the selected (or all) attributes, key always; with `names`
    (the caller asked for annotations), each lookup's annotations beside it (annotations.py)."""
    full = {**row, **spec.computed_values(row)}
    attributes = [*select, spec.key] if select else sorted(spec.readable)
    shown: Row = {"@odata.etag": etag(row)}
    for name in attributes:
        shown[name] = full.get(name)
    return annotate(shown, row, names) if names is not None else shown
