"""Exchange-side integration fixtures: one EWS sandbox over real HTTP, a fresh mailbox per test, a user's hands."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016
from redis.asyncio import Redis

from infra.sandbox.exchange.server import ExchangeSandboxUrls, serve_exchange
from infra.sandbox.exchange.settings import ExchangeSandboxSettings
from shared.exchange.client import FOLDERS, ITEM_TYPES
from shared.exchange.properties import register_extended_properties
from shared.exchange.state import ExchangeState
from shared.settings import SANDBOX_EXCHANGE_PASSWORD
from tests.conftest import _db_numbers

SERVICE_ACCOUNT = "fieldsync-svc@sandbox.local"


@pytest.fixture(scope="module")
def ews_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeSandboxUrls]:
    """One sandbox Exchange per test module; tests stay apart through their own mailboxes."""
    data_dir: Path = tmp_path_factory.mktemp("ews")
    with serve_exchange(ExchangeSandboxSettings(data_dir=data_dir), port=0) as urls:
        yield urls


class UserMailbox:
    """A person working in their mailbox with plain exchangelib (blocking; call through `run`)."""

    def __init__(self, urls: ExchangeSandboxUrls, address: str) -> None:
        register_extended_properties()
        config = Configuration(
            service_endpoint=urls.ews_url,
            credentials=Credentials(SERVICE_ACCOUNT, SANDBOX_EXCHANGE_PASSWORD),
            auth_type=BASIC,
            version=Version(build=EXCHANGE_2016),
        )
        self.address = address
        self.account = Account(address, config=config, autodiscover=False, access_type=IMPERSONATION)

    async def run(self, call: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(call)

    async def create(self, entity: str, **attributes: Any) -> Any:
        def call() -> Any:
            folder = getattr(self.account, FOLDERS[entity])  # a GetFolder the first time: in the thread too
            return ITEM_TYPES[entity](account=self.account, folder=folder, **attributes).save()

        return await self.run(call)

    async def get(self, entity: str, exchange_id: str) -> Any:
        return await self.run(lambda: getattr(self.account, FOLDERS[entity]).get(id=exchange_id))

    async def update(self, item: Any, **attributes: Any) -> Any:
        for name, value in attributes.items():
            setattr(item, name, value)
        await self.run(lambda: item.save(update_fields=list(attributes)))
        return item

    async def delete(self, item: Any) -> None:
        await self.run(item.delete)


@pytest.fixture
def user(ews_sandbox: ExchangeSandboxUrls) -> UserMailbox:
    address = f"user-{uuid.uuid4().hex[:10]}@sandbox.local"
    response = httpx.post(ews_sandbox.mailboxes_url, json={"address": address, "display_name": "Test User"})
    assert response.status_code == 201, response.text
    return UserMailbox(ews_sandbox, address)


@pytest.fixture(scope="module")
def module_redis_url(redis_host_port: tuple[str, int]) -> str:
    """A database of the session's redis-server for a module-scoped service (taken from the same rotation)."""
    host, port = redis_host_port
    db = next(_db_numbers)
    redis.Redis(host=host, port=port, db=db).flushdb()
    return f"redis://{host}:{port}/{db}"


@pytest.fixture
async def exchange_state(redis_url: str) -> AsyncIterator[ExchangeState]:
    redis = Redis.from_url(redis_url)
    yield ExchangeState(redis)
    await redis.aclose()
