"""App factory of the sandbox Exchange server: the EWS endpoint and the mailbox admin endpoints."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from infra.sandbox.exchange.ews_endpoint import REALM, credentials_valid, handle_soap
from infra.sandbox.exchange.settings import ExchangeSandboxSettings
from infra.sandbox.exchange.store import Store
from infra.sandbox.faults import FaultMiddleware, FaultSwitch, fault_router

_ADDRESS = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_XML = "text/xml; charset=utf-8"
EWS_PATH = "/EWS/Exchange.asmx"


class MailboxIn(BaseModel):
    address: str = Field(pattern=_ADDRESS, max_length=254)
    display_name: str = Field(min_length=1, max_length=256)


class MailboxOut(BaseModel):
    address: str
    display_name: str


def create_app(settings: ExchangeSandboxSettings | None = None, *, rng: random.Random | None = None) -> FastAPI:
    """The sandbox over the SQLite file of `settings`; `app.state` carries `store` and `faults` (FaultSwitch)."""
    settings = settings or ExchangeSandboxSettings()
    store = Store(settings.database_path)
    username = settings.exchange_sandbox_service_account
    password = settings.exchange_sandbox_password.get_secret_value()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Lifecycle: the store opens with the app; it is closed when the server shuts down.
        yield
        store.close()

    app = FastAPI(title="fieldsync sandbox: Exchange (EWS)", lifespan=lifespan)
    switch = FaultSwitch(settings.exchange_sandbox_faults)
    app.state.store, app.state.faults = store, switch
    app.include_router(fault_router(switch))
    app.add_middleware(FaultMiddleware, knobs_provider=switch, rng=rng)

    @app.post(EWS_PATH, include_in_schema=False)
    async def ews(request: Request) -> Response:
        if not credentials_valid(request.headers.get("authorization"), username, password):
            return Response(status_code=401, headers={"WWW-Authenticate": REALM}, content=b"401 Unauthorized")
        payload = await request.body()
        # On the event loop, not in a worker thread: a request takes about a millisecond of SQLite and XML,
        # and the thread handoff cost a fifth of the sandbox's CPU under the benchmark (py-spy).
        status, body = handle_soap(store, payload)
        return Response(content=body, status_code=status, media_type=_XML)

    @app.post("/_sandbox/mailboxes", response_model=MailboxOut)
    async def create_mailbox(mailbox: MailboxIn, response: Response) -> MailboxOut:
        """Create a mailbox (idempotent): what an Exchange admin does; EWS itself cannot."""
        row, created = await run_in_threadpool(
            store.ensure_mailbox, mailbox.address.strip().lower(), mailbox.display_name
        )
        response.status_code = 201 if created else 200
        return MailboxOut(**row)

    @app.post("/_sandbox/sync-states/expire")
    async def expire_sync_states() -> dict[str, int]:
        """Invalidate every SyncState issued so far: SyncFolderItems answers them ErrorInvalidSyncStateData."""
        return {"sync_generation": await run_in_threadpool(store.expire_sync_states)}

    @app.get("/_sandbox/mailboxes", response_model=list[MailboxOut])
    async def list_mailboxes() -> list[MailboxOut]:
        return [MailboxOut(**row) for row in await run_in_threadpool(store.list_mailboxes)]

    return app
