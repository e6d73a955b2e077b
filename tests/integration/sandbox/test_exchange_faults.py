"""Fault knobs on the Exchange sandbox, seen through fieldsync's own EWS client (exchangelib underneath): 429 with
Retry-After, 503 and dropped connections are Transient (with the server's wait where it gave one), latency only
slows a call down, and a refused write leaves nothing behind."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from infra.sandbox.exchange.server import ExchangeSandboxUrls
from shared.exchange.client import ExchangeClient
from shared.exchange.errors import Transient
from shared.settings import ExchangeSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def mailbox(sandbox: ExchangeSandboxUrls) -> Iterator[str]:
    address = f"faults-{uuid.uuid4().hex[:8]}@sandbox.local"
    response = httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": "Faults"})
    assert response.status_code == 201, response.text
    yield address
    # Every test leaves the knobs off for the next one.
    assert httpx.put(sandbox.faults_url, json={}).status_code == 200


@pytest.fixture
async def client(sandbox: ExchangeSandboxUrls, mailbox: str) -> AsyncIterator[ExchangeClient]:
    """The client, with the mailbox's folders already resolved: the faulted request is the one under test."""
    ews = ExchangeClient(ExchangeSettings(ews_url=sandbox.ews_url, ews_max_workers=2))
    assert await contacts(ews, mailbox) == 0
    yield ews
    await ews.close()


def contact(name: str) -> dict[str, object]:
    return {"given_name": name, "display_name": name}


def set_faults(sandbox: ExchangeSandboxUrls, **knobs: object) -> None:
    response = httpx.put(sandbox.faults_url, json=knobs)
    assert response.status_code == 200, response.text


async def contacts(client: ExchangeClient, mailbox: str) -> int:
    page = await client.sync_page(mailbox, "contact", None)
    return len(page.changes)


async def test_throttling_is_transient_and_carries_the_servers_retry_after(
    sandbox: ExchangeSandboxUrls, mailbox: str, client: ExchangeClient
) -> None:
    set_faults(sandbox, throttle_ratio=1.0, retry_after_s=3)
    with pytest.raises(Transient) as caught:
        await client.create(mailbox, "contact", contact("Throttled"))
    assert caught.value.retry_after == 3.0
    set_faults(sandbox)
    assert await contacts(client, mailbox) == 0  # the refused create stored nothing


@pytest.mark.parametrize("knob", ["unavailable_ratio", "drop_ratio"])
async def test_unavailable_and_dropped_connections_are_transient_and_store_nothing(
    sandbox: ExchangeSandboxUrls, mailbox: str, client: ExchangeClient, knob: str
) -> None:
    set_faults(sandbox, **{knob: 1.0})
    with pytest.raises(Transient):
        await client.create(mailbox, "contact", contact("Refused"))
    set_faults(sandbox)
    assert await contacts(client, mailbox) == 0


async def test_latency_slows_a_call_down_and_it_still_succeeds(
    sandbox: ExchangeSandboxUrls, mailbox: str, client: ExchangeClient
) -> None:
    set_faults(sandbox, latency_ms=300)
    started = time.monotonic()
    created = await client.create(mailbox, "contact", contact("Slow"))
    assert time.monotonic() - started >= 0.3
    set_faults(sandbox)
    item = await client.get_item(mailbox, "contact", created.exchange_id)
    assert item is not None and item.attributes["given_name"] == "Slow"
