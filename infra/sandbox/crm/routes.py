"""Web API routes: `/api/data/v9.2/<set>` and `/api/data/v9.2/<set>(<id>)`, thin over store and records."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from infra.sandbox.crm.auth import require_token
from infra.sandbox.crm.collection import CollectionQuery
from infra.sandbox.crm.odata import (
    BAD_PAYLOAD,
    DUPLICATE,
    MEDIA_TYPE,
    NOT_FOUND,
    STALE_ETAG,
    ODataError,
    Row,
    bad_request,
    parse_prefer,
    parse_select,
)
from infra.sandbox.crm.paging import context, page_size
from infra.sandbox.crm.records import apply_body, etag, parse_guid, show
from infra.sandbox.crm.schema import EntitySet, entity_sets
from infra.sandbox.crm.settings import API_PATH, CrmSandboxSettings
from infra.sandbox.crm.store import Store

# The sandbox is one organisation; its id is fixed so WhoAmI answers the same across restarts.
ORGANIZATION_ID = "5a9d6c1e-0f3b-4f55-9c1d-5bd1f1e0a001"
_SEGMENT = re.compile(r"^(?P<set>\w+)(?:\((?P<id>[^)]*)\))?$")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")  # NaN and Infinity cannot be answered as JSON


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=status, media_type=MEDIA_TYPE, headers={"OData-Version": "4.0", **(headers or {})}
    )


class WebApi:
    """Resolves a request to an entity set and record, and performs it against the store."""

    def __init__(self, settings: CrmSandboxSettings, store: Store, application_user_id: str):
        self.settings, self.store, self.application_user_id = settings, store, application_user_id

    def _target(self, segment: str) -> tuple[EntitySet, str | None]:
        match = _SEGMENT.match(segment)
        spec = entity_sets().get(match.group("set")) if match else None
        if match is None or spec is None:
            raise ODataError(404, NOT_FOUND, f"Resource not found for the segment '{segment}'.")
        raw_id = match.group("id")
        if raw_id is None:
            return spec, None
        record_id = parse_guid(raw_id)
        if record_id is None:
            raise bad_request(f"Invalid key '{raw_id}' for the entity set '{spec.name}'.")
        return spec, record_id

    def _existing(self, spec: EntitySet, record_id: str) -> Row:
        row = self.store.get(spec.name, record_id)
        if row is None:
            raise ODataError(404, NOT_FOUND, f"{spec.logical_name} With Id = {record_id} Does Not Exist")
        return row

    def _caller(self, request: Request) -> str:
        """The systemuser the call acts as: MSCRMCallerID impersonation, else the application user."""
        raw = request.headers.get("mscrmcallerid")
        if raw is None:
            return self.application_user_id
        caller = parse_guid(raw)
        if caller is None or self.store.get("systemusers", caller) is None:
            raise bad_request(f"systemuser With Id = {raw} Does Not Exist", NOT_FOUND)
        return caller

    def _who_am_i(self, request: Request, api_url: str) -> Response:
        """The WhoAmI function: the systemuser the call acts as, its business unit and the organisation."""
        caller = self._caller(request)
        user = self.store.get("systemusers", caller) or {}
        return _json({
            "@odata.context": api_url + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": user.get("_businessunitid_value"),
            "UserId": caller,
            "OrganizationId": ORGANIZATION_ID,
        })

    @staticmethod
    async def _body(request: Request) -> Any:
        try:
            return json.loads(await request.body(), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}", BAD_PAYLOAD) from exc

    @staticmethod
    def _check_etag(request: Request, row: Row) -> None:
        wanted = request.headers.get("if-match")
        if wanted is not None and wanted.strip() != "*" and wanted.strip() != etag(row):
            raise ODataError(
                412, STALE_ETAG, "The version of the existing record doesn't match the RowVersion property provided."
            )

    def _exists(self, entity_set: str, record_id: str) -> bool:
        return self.store.get(entity_set, record_id) is not None

    async def handle(self, request: Request, segment: str) -> Response:
        require_token(request, self.store)
        api_url = str(request.base_url).rstrip("/") + API_PATH
        if segment == "WhoAmI" and request.method == "GET":
            return self._who_am_i(request, api_url)
        spec, record_id = self._target(segment)
        query = dict(request.query_params)
        prefer = parse_prefer(request.headers.getlist("prefer"))
        select = parse_select(query.get("$select"), spec.readable, spec.type_name)
        method = request.method
        if record_id is None and method == "GET":
            page = page_size(prefer, self.settings.crm_sandbox_page_size)
            tracking = "odata.track-changes" in prefer
            body, headers = CollectionQuery(self.store, spec, api_url, query, select, tracking, page).answer()
            return _json(body, headers=headers)
        if record_id is None and method == "POST":
            return await self._create(request, spec, api_url, select, prefer)
        if record_id is None:
            raise ODataError(405, NOT_FOUND, f"{method} is not supported on the collection '{spec.name}'.")
        if method == "GET":
            row = self._existing(spec, record_id)
            body = {"@odata.context": context(api_url, spec.name, select, "/$entity"), **show(spec, row, select)}
            return _json(body, headers={"ETag": etag(row)})
        if method == "PATCH":
            return await self._update(request, spec, record_id, api_url, select, prefer)
        if method == "DELETE":
            row = self._existing(spec, record_id)
            self._check_etag(request, row)
            self.store.delete(spec.name, record_id, utc_now())
            return Response(status_code=204, headers={"OData-Version": "4.0"})
        raise ODataError(405, NOT_FOUND, f"{method} is not supported on a record of '{spec.name}'.")

    async def _create(
        self, request: Request, spec: EntitySet, api_url: str, select: list[str] | None, prefer: dict[str, str]
    ) -> Response:
        body = await self._body(request)
        row = apply_body(
            spec,
            body,
            None,
            new_id=str(uuid.uuid4()),
            caller=self._caller(request),
            now=utc_now(),
            exists=self._exists,
        )
        if self.store.get(spec.name, row[spec.key]) is not None:
            raise ODataError(412, DUPLICATE, "A record with matching key values already exists.")
        row = self.store.put(spec.name, row[spec.key], row)
        return self._written(spec, row, api_url, select, prefer, created=True)

    async def _update(
        self,
        request: Request,
        spec: EntitySet,
        record_id: str,
        api_url: str,
        select: list[str] | None,
        prefer: dict[str, str],
    ) -> Response:
        body = await self._body(request)
        existing = self._existing(spec, record_id)
        self._check_etag(request, existing)
        caller = self._caller(request)
        row = apply_body(spec, body, existing, new_id=record_id, caller=caller, now=utc_now(), exists=self._exists)
        row = self.store.put(spec.name, record_id, row)
        return self._written(spec, row, api_url, select, prefer, created=False)

    @staticmethod
    def _written(
        spec: EntitySet, row: Row, api_url: str, select: list[str] | None, prefer: dict[str, str], created: bool
    ) -> Response:
        headers = {"OData-EntityId": f"{api_url}{spec.name}({row[spec.key]})", "ETag": etag(row)}
        if prefer.get("return") == "representation":
            headers["Preference-Applied"] = "return=representation"
            body = {"@odata.context": context(api_url, spec.name, select, "/$entity"), **show(spec, row, select)}
            return _json(body, status=201 if created else 200, headers=headers)
        return Response(status_code=204, headers={"OData-Version": "4.0", **headers})


def web_api_router(api: WebApi) -> APIRouter:
    router = APIRouter(tags=["webapi"])

    @router.api_route(API_PATH + "{segment}", methods=["GET", "POST", "PATCH", "DELETE"])
    async def web_api(request: Request, segment: str) -> Response:
        return await api.handle(request, segment)

    return router
