"""Mailbox health on a real redis-server: an error streak keeps its start, a failing mailbox stays reported, a
success clears the error; the admin API's routes serve it (viewer token) next to the dashboard's JSON and page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from services.admin_api.main import create_app
from shared.exchange.errors import Transient
from shared.mailbox_health import MailboxHealthStore
from tests.integration.admin_api.serving import Tokens, admin_settings, bearer

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[MailboxHealthStore]:
    redis = Redis.from_url(redis_url)
    yield MailboxHealthStore(redis)
    await redis.aclose()


async def test_a_failing_folder_keeps_the_start_of_its_streak_until_a_success_clears_it(
    store: MailboxHealthStore,
) -> None:
    mailbox = f"h-{uuid.uuid4().hex[:8]}@example.test"
    await store.succeeded(mailbox, "contacts", 3, T0)
    await store.failed(mailbox, "contacts", Transient("HTTP 429 Too Many Requests"), T0 + timedelta(minutes=1))
    await store.failed(mailbox, "contacts", RuntimeError("ErrorAccessDenied: no"), T0 + timedelta(minutes=2))
    await store.failed(mailbox, "calendar", ConnectionError("refused"), T0 + timedelta(minutes=2))
    found = {m.mailbox: m for m in await store.mailboxes()}[mailbox]
    assert found.failing
    folders = {f.folder: f for f in found.folders}
    contacts = folders["contacts"]
    assert (contacts.error, contacts.failures, contacts.items_synced) == ("permission_denied", 2, 3)
    assert contacts.error_since == T0 + timedelta(minutes=1) and contacts.last_success == T0
    assert (folders["calendar"].error, folders["calendar"].last_success) == ("unreachable", None)
    await store.succeeded(mailbox, "contacts", 2, T0 + timedelta(minutes=3))
    await store.succeeded(mailbox, "calendar", 0, T0 + timedelta(minutes=3))
    again = {m.mailbox: m for m in await store.mailboxes()}[mailbox]
    assert not again.failing
    cleared = {f.folder: f for f in again.folders}["contacts"]
    assert (cleared.error, cleared.error_since, cleared.failures, cleared.items_synced) == (None, None, 0, 5)


async def test_the_operators_routes(redis_url: str, kafka_bootstrap: str, store: MailboxHealthStore) -> None:
    tokens = Tokens.fresh()
    mailbox = f"r-{uuid.uuid4().hex[:8]}@example.test"
    await store.failed(mailbox, "tasks", Transient("ErrorServerBusy"), T0)
    nowhere = "none=http://127.0.0.1:9/metrics"  # a service that never answers
    app = create_app(admin_settings(redis_url, kafka_bootstrap, tokens, dashboard_metrics_urls=nowhere))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://a") as http:
        assert (await http.get("/api/v1/mailboxes")).status_code == 401
        assert (await http.get("/api/v1/dashboard")).status_code == 401
        rows = (await http.get("/api/v1/mailboxes", headers=bearer(tokens.viewer))).json()
        mine = next(m for m in rows if m["mailbox"] == mailbox)
        assert mine["folders"][0]["error"] == "throttled" and mine["folders"][0]["failures"] == 1
        numbers = (await http.get("/api/v1/dashboard", headers=bearer(tokens.viewer))).json()
        assert numbers["services_up"] == {"none": False}  # a service that does not answer is shown down
        assert any(m["mailbox"] == mailbox for m in numbers["mailboxes"])
        page = await http.get("/dashboard")  # the page holds no data: no token needed to load it
        assert page.status_code == 200 and "sessionStorage" in page.text
        assert page.headers["cache-control"] == "no-store"
