"""Composition root of the sandbox Dynamics 365 Web API: `create_app(settings)` builds the ASGI app."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from infra.sandbox.crm.auth import token_router
from infra.sandbox.crm.bootstrap import APPLICATION_USER, ROOT_BUSINESS_UNIT, bootstrap
from infra.sandbox.crm.call import Org
from infra.sandbox.crm.guard import SecurityCache
from infra.sandbox.crm.odata import BAD_PROPERTY, NOT_FOUND, ODataError
from infra.sandbox.crm.replies import utc_now
from infra.sandbox.crm.routes import web_api_router
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.crm.store import Store
from infra.sandbox.faults import FaultMiddleware, FaultSwitch, fault_router

__all__ = ["APPLICATION_USER", "ROOT_BUSINESS_UNIT", "create_app"]


def create_app(settings: CrmSandboxSettings | None = None, *, rng: random.Random | None = None) -> FastAPI:
    """The sandbox app over the SQLite file of `settings` (created and bootstrapped when missing).

    `app.state` carries `store`, `faults` (the live FaultSwitch) and `application_user_id`.
    """
    settings = settings or CrmSandboxSettings()
    store = Store(settings.db_path)
    application_user_id = bootstrap(store, utc_now())

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
    app.include_router(web_api_router(Org(settings, store, SecurityCache(store), application_user_id)))
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
