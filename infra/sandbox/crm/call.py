"""What a Web API handler works with: the organisation (settings, store, security) and the call at hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from infra.sandbox.crm.guard import Caller, SecurityCache
from infra.sandbox.crm.odata import NOT_FOUND, ODataError, bad_request
from infra.sandbox.crm.records import parse_guid
from infra.sandbox.crm.schema import PRIMARY_NAMES, EntitySet, entity_sets, set_of_logical_name
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.crm.store import Store

Row = dict[str, Any]


@dataclass(frozen=True)
class Org:
    """The sandbox organisation: its settings, its SQLite store, its security state, its application user."""

    settings: CrmSandboxSettings
    store: Store
    security: SecurityCache
    application_user: str

    def exists(self, entity_set: str, record_id: str) -> bool:
        return self.store.get(entity_set, record_id) is not None

    def name_of(self, logical_name: str, record_id: str) -> str | None:
        """The primary name of a record as it is now (a lookup's FormattedValue); None when it is gone."""
        spec = set_of_logical_name(logical_name)
        row = self.store.get(spec.name, record_id) if spec is not None else None
        if spec is None or row is None:
            return None
        value = {**row, **spec.computed_values(row)}.get(PRIMARY_NAMES.get(logical_name, "subject"))
        return str(value) if value is not None else None

    def existing(self, spec: EntitySet, record_id: str) -> Row:
        row = self.store.get(spec.name, record_id)
        if row is None:
            raise ODataError(404, NOT_FOUND, f"{spec.logical_name} With Id = {record_id} Does Not Exist")
        return row


@dataclass(frozen=True)
class Call:
    """One request: where the API answers, who calls, its query options and preferences."""

    request: Request
    api_url: str
    caller: Caller
    query: dict[str, str]
    prefer: dict[str, str]

    @property
    def method(self) -> str:
        return self.request.method


def entity_set_named(name: str) -> EntitySet:
    spec = entity_sets().get(name)
    if spec is None:
        raise ODataError(404, NOT_FOUND, f"Resource not found for the segment '{name}'.")
    return spec


def record_key(spec: EntitySet, raw: str) -> str:
    record_id = parse_guid(raw)
    if record_id is None:
        raise bad_request(f"Invalid key '{raw}' for the entity set '{spec.name}'.")
    return record_id
