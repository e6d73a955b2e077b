"""Web API row <-> canonical field values, per catalogue field pair (pure: no I/O, no clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from shared import attachments, recurrence
from shared.catalogue import EntitySpec, FieldPair

Row = dict[str, Any]

# Lookups are read as `_<name>_value` with its annotations (the table it points to, that record's name) and
# written with `<name>_<table>@odata.bind`. Canonical value: {"id", "logicalname", "name"}, or None. Exchange
# shows the name (a contact's Company, an activity's Regarding text); the id and table say what to bind.
LOOKUPS = frozenset({"regardingobjectid", "parentcustomerid"})
LOGICAL_NAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"
FORMATTED_VALUE = "@OData.Community.Display.V1.FormattedValue"
# The tables the synced lookups may point to, and their entity sets.
LOOKUP_SETS = {"account": "accounts", "contact": "contacts"}
DATETIMES = frozenset({"scheduledstart", "scheduledend", "actualend", "actualstart", "modifiedon", "createdon"})
DATES = frozenset({"birthdate", "anniversary"})
INTEGERS = frozenset({"prioritycode", "percentcomplete", "scheduleddurationminutes", "statecode", "statuscode"})
RECURRENCE = "recurrence_pattern"  # a recurring appointment's pattern: shared.recurrence's normal form
# Attributes that are not synced fields but decide scope: kept in the snapshot under these names.
CONTEXT_ATTRIBUTES = ("_ownerid_value", "statecode")


def is_composite(pair: FieldPair) -> bool:
    """A pair over several attributes (fullname, addresses, times, status) is always sent whole."""
    return len(pair.crm_attributes) > 1


def read_attributes(spec: EntitySpec) -> list[str]:
    """The `$select` list a capture needs for an entity: every mapped attribute plus context."""
    names: list[str] = [spec.key_attribute, "versionnumber", "modifiedon", "_modifiedby_value", *CONTEXT_ATTRIBUTES]
    for pair in spec.fields:
        for attribute in pair.crm_attributes:
            names.append(f"_{attribute}_value" if attribute in LOOKUPS else attribute)
    return list(dict.fromkeys(names))


def canonical_datetime(value: Any) -> Any:
    """Any ISO 8601 datetime -> "YYYY-MM-DDTHH:MM:SSZ" in UTC; other values unchanged."""
    if not isinstance(value, str) or not value:
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_date(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return value


def canonical_attribute(name: str, value: Any) -> Any:
    """One attribute's value in canonical form (the Web API JSON shape, normalised)."""
    if value is None:
        return None
    if name in DATETIMES:
        return canonical_datetime(value)
    if name in DATES:
        return canonical_date(value)
    if name in INTEGERS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if name in LOOKUPS and isinstance(value, str):
        return value.lower()
    if name in LOOKUPS and isinstance(value, dict):
        return {**value, "id": str(value.get("id") or "").lower() or None}
    return value


def lookup_value(row: Row, name: str) -> dict[str, Any] | None:
    """A lookup as the Web API reads it (`_<name>_value` and its annotations) -> the canonical value."""
    record_id = row.get(f"_{name}_value")
    if not record_id:
        return None
    return {"id": str(record_id).lower(), "logicalname": row.get(f"_{name}_value{LOGICAL_NAME}"),
            "name": row.get(f"_{name}_value{FORMATTED_VALUE}")}  # fmt: skip


def _attribute(row: Row, name: str) -> Any:
    if name in LOOKUPS:
        return lookup_value(row, name)
    return canonical_attribute(name, row.get(name))


def _pattern(value: dict[str, Any]) -> dict[str, Any]:
    """A recurrence pattern in the normal form Exchange's side reads too; as stored when EWS cannot hold it (its
    write to Exchange is then refused with the reason)."""
    try:
        return recurrence.normal_form(value)
    except recurrence.RecurrenceError:
        return value


def field_value(pair: FieldPair, row: Row) -> Any:
    """The canonical value of one field pair: a dict over all attributes for a composite."""
    if is_composite(pair):
        value = {attribute: _attribute(row, attribute) for attribute in pair.crm_attributes}
        return _pattern(value) if pair.key == RECURRENCE else value
    if not pair.crm_attributes:
        return None
    return _attribute(row, pair.crm_attributes[0])


def mapped_fields(spec: EntitySpec) -> list[FieldPair]:
    """The pairs that have CRM attributes (attachments, for one, has none and never syncs from a row)."""
    return [pair for pair in spec.fields if pair.crm_attributes]


def canonical_fields(spec: EntitySpec, row: Row) -> dict[str, Any]:
    """Every mapped field of a row in canonical form, keyed by field key. An appointment's files are no attribute
    of its row: the capture puts their entries in the row under the pair's key (crm_capture/attachment_index.py),
    and a row read without them says nothing of its files."""
    values = {pair.key: field_value(pair, row) for pair in mapped_fields(spec)}
    if attachments.KEY in row and spec.field(attachments.KEY) is not None:
        values[attachments.KEY] = attachments.canonical(row[attachments.KEY])
    return values


def write_body(spec: EntitySpec, changed: dict[str, Any]) -> Row:
    """Canonical changed fields -> a PATCH/POST body (composites spread, lookups bound). Unknown keys: KeyError."""
    body: Row = {}
    for key, value in changed.items():
        pair = spec.field(key)
        if pair is None or not pair.crm_attributes:
            raise KeyError(key)
        if is_composite(pair):
            if not isinstance(value, dict):
                raise ValueError(f"{key} is a composite field: expected an object, got {type(value).__name__}")
            unknown = set(value) - set(pair.crm_attributes)
            if unknown:
                raise ValueError(f"{key} has no attributes {sorted(unknown)}")
            for attribute, part in value.items():
                body.update(_write_attribute(attribute, part))
        else:
            body.update(_write_attribute(pair.crm_attributes[0], value))
    return body


def _write_attribute(name: str, value: Any) -> Row:
    if name in LOOKUPS:
        return _bind(name, value)
    return {name: value}


def _bind(name: str, value: Any) -> Row:
    """A lookup written through the navigation property of the table it names: `parentcustomerid_account`.
    A bare id names no table, so it cannot be bound (ValueError); None clears the lookup."""
    if value is None:
        return {f"{name}@odata.bind": None}
    logical = value.get("logicalname") if isinstance(value, dict) else None
    if not isinstance(value, dict) or not value.get("id") or logical not in LOOKUP_SETS:
        raise ValueError(f"{name} needs an id and the table it points to ({sorted(LOOKUP_SETS)}), got {value!r}")
    return {f"{name}_{logical}@odata.bind": f"/{LOOKUP_SETS[logical]}({value['id']})"}
