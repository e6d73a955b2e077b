"""Composition root of the sandbox Dynamics 365 Web API: `create_app(settings)` builds the ASGI app."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from infra.sandbox.crm.auth import token_router
from infra.sandbox.crm.odata import BAD_PROPERTY, NOT_FOUND, ODataError
from infra.sandbox.crm.routes import WebApi, utc_now, web_api_router
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.crm.store import Store
from infra.sandbox.faults import FaultMiddleware, FaultSwitch, fault_router

APPLICATION_USER = "fieldsync"
ROOT_BUSINESS_UNIT = "sandbox"


def ensure_seed(store: Store) -> str:
    """At first start: the root business unit and the application user the connectors act as.

    Returns the application user's systemuserid (kept in the SQLite file, so stable across restarts).
    """
    existing = store.meta("application_user_id")
    if existing:
        return existing
    user_id, unit_id, now = str(uuid.uuid4()), str(uuid.uuid4()), utc_now()
    system = {"createdon": now, "modifiedon": now, "_createdby_value": user_id, "_modifiedby_value": user_id}
    store.put("businessunits", unit_id, {"businessunitid": unit_id, "name": ROOT_BUSINESS_UNIT, **system})
    user = {
        "systemuserid": user_id,
        "firstname": APPLICATION_USER,
        "lastname": None,
        "domainname": f"{APPLICATION_USER}@sandbox.local",
        "internalemailaddress": f"{APPLICATION_USER}@sandbox.local",
        "_businessunitid_value": unit_id,
        "isdisabled": False,
        **system,
    }
    store.put("systemusers", user_id, user)
    store.set_meta("application_user_id", user_id)
    return user_id


def create_app(settings: CrmSandboxSettings | None = None, *, rng: random.Random | None = None) -> FastAPI:
    """The sandbox app over the SQLite file of `settings` (created and seeded when missing).

    `app.state` carries `store`, `faults` (the live FaultSwitch) and `application_user_id`.
    """
    settings = settings or CrmSandboxSettings()
    store = Store(settings.db_path)
    application_user_id = ensure_seed(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Lifecycle: the store opens with the app; it is closed when the server shuts down.
        yield
        store.close()

    app = FastAPI(title="fieldsync sandbox: Dynamics 365 Web API", lifespan=lifespan)
    switch = FaultSwitch(settings.crm_sandbox_faults)
    app.state.store, app.state.faults, app.state.application_user_id = store, switch, application_user_id
    app.include_router(fault_router(switch))
    app.include_router(token_router(settings, store))
    app.include_router(web_api_router(WebApi(settings, store, application_user_id)))
    app.add_middleware(FaultMiddleware, knobs_provider=switch, rng=rng)

    @app.post("/_sandbox/tracking/expire", tags=["sandbox"])
    async def expire_tracking() -> dict[str, int]:
        """Expire every delta token issued so far (what 90 days of retention do): they get ExpiredVersionStamp."""
        return {"tracking_floor": store.expire_tracking()}

    @app.exception_handler(ODataError)
    async def odata_error(_: Request, exc: ODataError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = NOT_FOUND if exc.status_code == 404 else BAD_PROPERTY
        return ODataError(exc.status_code, code, str(exc.detail)).response()

    return app
