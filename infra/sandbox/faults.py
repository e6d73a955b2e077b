"""Fault knobs for the sandboxes: latency, 429 with Retry-After, 503, dropped connections and refused writes.

Mounting (any ASGI app; the admin router needs FastAPI):

    switch = FaultSwitch(FaultKnobs())               # or FaultKnobs.model_validate(settings...)
    app = FastAPI()
    app.include_router(fault_router(switch))         # GET/PUT /_sandbox/faults, no auth
    app.add_middleware(FaultMiddleware, knobs_provider=switch)

`FaultMiddleware` leaves paths starting with `exempt_prefixes` alone (by default the admin paths and
the OAuth token endpoint), so tests can always turn the faults off again. Everything is off by default.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PATH = "/_sandbox/faults"
DEFAULT_EXEMPT_PREFIXES = ("/_sandbox/", "/oauth2/token")
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class FaultKnobs(BaseModel):
    """How badly the sandbox behaves; ratios are probabilities per request, checked in this order:
    drop, unavailable (503), throttle (429). Latency applies to every non-exempt request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=60_000)
    throttle_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    unavailable_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after_s: int = Field(default=1, ge=0, le=3600)
    # Every write (POST, PATCH, PUT, DELETE) answered 400 with an OData error: a refusal the same request meets
    # again (a dead letter), not an outage. EWS sends reads as POSTs too: there it refuses everything.
    refuse_writes: bool = False


class FaultSwitch:
    """The live knobs of one sandbox: a knobs provider the admin router can change at run time."""

    def __init__(self, knobs: FaultKnobs | None = None) -> None:
        self.knobs = knobs or FaultKnobs()

    def __call__(self) -> FaultKnobs:
        return self.knobs


class ConnectionDropped(Exception):
    """Raised by the middleware so the server closes the connection without an answer."""


# A header name with a space is refused by uvicorn (h11 and httptools) after it marked the response
# as started but before anything is written; the exception that follows makes uvicorn close the
# transport instead of sending its 500 page: the client sees the connection drop with no response.
_UNSENDABLE_START = {"type": "http.response.start", "status": 503, "headers": [(b"x dropped", b"1")]}


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every connection dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


_quiet_drops = _QuietDrops()


class FaultMiddleware:
    """Pure ASGI middleware applying the knobs returned by `knobs_provider` to each HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        knobs_provider: Callable[[], FaultKnobs],
        rng: random.Random | None = None,
        exempt_prefixes: Iterable[str] = DEFAULT_EXEMPT_PREFIXES,
    ) -> None:
        self.app = app
        self.knobs_provider = knobs_provider
        self.rng = rng or random.Random()
        self.exempt_prefixes = tuple(exempt_prefixes)
        logging.getLogger("uvicorn.error").addFilter(_quiet_drops)  # idempotent: one shared filter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        knobs = self.knobs_provider()
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if knobs.drop_ratio and self.rng.random() < knobs.drop_ratio:
            try:
                await send(_UNSENDABLE_START)
            finally:
                raise ConnectionDropped("sandbox fault: connection dropped")
        if knobs.unavailable_ratio and self.rng.random() < knobs.unavailable_ratio:
            await _error(send, 503, b"Service Unavailable", knobs.retry_after_s)
            return
        if knobs.throttle_ratio and self.rng.random() < knobs.throttle_ratio:
            await _error(send, 429, b"Too Many Requests", knobs.retry_after_s)
            return
        if knobs.refuse_writes and scope.get("method") in WRITES:
            await _error(send, 400, b"Writes refused", None, code=b"0x80040203")
            return
        await self.app(scope, receive, send)


async def _error(
    send: Send, status: int, text: bytes, retry_after_s: int | None, code: bytes = b"0x80072321"
) -> None:
    body = b'{"error":{"code":"' + code + b'","message":"' + text + b' (sandbox fault)"}}'
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(retry_after_s).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def fault_router(switch: FaultSwitch) -> APIRouter:
    """GET and PUT `/_sandbox/faults`: read or replace the knobs (422 on out-of-range values)."""
    router = APIRouter(tags=["sandbox"])

    @router.get(ADMIN_PATH)
    async def read_faults() -> FaultKnobs:
        return switch.knobs

    @router.put(ADMIN_PATH)
    async def replace_faults(knobs: FaultKnobs) -> FaultKnobs:
        switch.knobs = knobs
        return switch.knobs

    return router
