"""Web API row <-> canonical field values, per catalogue field pair (pure: no I/O, no clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from shared.catalogue import EntitySpec, FieldPair

Row = dict[str, Any]

# Lookups are read as `_<name>_value` and written with `<name>_<target>@odata.bind`.
LOOKUPS = frozenset({"regardingobjectid", "parentcustomerid"})
# Where a lookup points when written: the canonical value is only a guid, and the sandbox's
# lookups of the synced entities resolve to contacts (a documented limitation, see the report).
LOOKUP_TARGETS = {"regardingobjectid": ("contact", "contacts"), "parentcustomerid": ("contact", "contacts")}
DATETIMES = frozenset({"scheduledstart", "scheduledend", "actualend", "actualstart", "modifiedon", "createdon"})
DATES = frozenset({"birthdate", "anniversary"})
INTEGERS = frozenset({"prioritycode", "percentcomplete", "scheduleddurationminutes", "statecode", "statuscode"})
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
    return value


def _attribute(row: Row, name: str) -> Any:
    raw = row.get(f"_{name}_value") if name in LOOKUPS else row.get(name)
    return canonical_attribute(name, raw)


def field_value(pair: FieldPair, row: Row) -> Any:
    """The canonical value of one field pair: a dict over all attributes for a composite."""
    if is_composite(pair):
        return {attribute: _attribute(row, attribute) for attribute in pair.crm_attributes}
    if not pair.crm_attributes:
        return None
    return _attribute(row, pair.crm_attributes[0])


def mapped_fields(spec: EntitySpec) -> list[FieldPair]:
    """The pairs that have CRM attributes (attachments, for one, has none and never syncs from a row)."""
    return [pair for pair in spec.fields if pair.crm_attributes]


def canonical_fields(spec: EntitySpec, row: Row) -> dict[str, Any]:
    """Every mapped field of a row in canonical form, keyed by field key."""
    return {pair.key: field_value(pair, row) for pair in mapped_fields(spec)}


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
        logical, entity_set = LOOKUP_TARGETS[name]
        return {f"{name}_{logical}@odata.bind": f"/{entity_set}({value})" if value else None}
    return {name: value}
