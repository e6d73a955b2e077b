"""Operators' routes: mailbox health, the dashboard's numbers (viewer token), and the dashboard page itself.

The page (`GET /dashboard`) is static and holds no data, so it is served without a token; it asks for a viewer
token, keeps it in the tab's sessionStorage (gone when the tab closes; a `#token=` in the URL is taken once and
removed from the address bar, so the token never reaches a server log), and polls `GET /api/v1/dashboard` with
`Authorization: Bearer <token>`, as every API client does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.admin_api import dashboard
from services.admin_api.context import current_principal
from services.admin_api.lag import LagObserver
from services.admin_api.routes import READ
from services.admin_api.scrape import Scraper
from shared.mailbox_health import MailboxHealth, MailboxHealthStore


@dataclass
class Operations:
    """What the operators' routes read, built once by main.create_app."""

    health: MailboxHealthStore
    scraper: Scraper
    lag: LagObserver | None  # None until the broker answered (main.py keeps trying)

    def lags(self) -> list[dashboard.Lag]:
        if self.lag is None:
            return []
        return [dashboard.Lag(group=g.group, messages=g.messages, seconds=round(g.seconds, 2),
                              partitions=g.partitions) for g in self.lag.latest]  # fmt: skip


def get_operations(request: Request) -> Operations:
    operations: Operations = request.app.state.operations
    return operations


Ops = Annotated[Operations, Depends(get_operations)]
operations_api = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)])
pages = APIRouter()


@operations_api.get("/mailboxes", response_model=list[MailboxHealth], responses=READ)
async def list_mailboxes(ops: Ops) -> list[MailboxHealth]:
    """Per mailbox and folder: last successful sync, items synced, the current error and since when."""
    return await ops.health.mailboxes()


@operations_api.get("/dashboard", response_model=dashboard.Dashboard, responses=READ)
async def dashboard_numbers(ops: Ops, request: Request) -> dashboard.Dashboard:
    """The dashboard's numbers: every service's /metrics scraped (at most once a second), lag, mailbox health."""
    samples = await ops.scraper.samples()
    clock = request.app.state.context.clock
    now: datetime = clock()
    return dashboard.build(samples, ops.lags(), await ops.health.mailboxes(), now)


@pages.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard_page() -> HTMLResponse:
    page = resources.files("services.admin_api").joinpath("static/dashboard.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
