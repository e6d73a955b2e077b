"""Verify's fixtures: both sandboxes over HTTP, the admin API served for real, linked pairs made as appliers do.

No fieldsync pipeline service runs, so whatever a test changes directly in one sandbox stays different.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.exchange.server import ExchangeSandboxUrls, serve_exchange
from infra.sandbox.exchange.settings import ExchangeSandboxSettings
from services.admin_api.verify_schemas import Pair
from shared import redis_keys
from shared.catalogue import load_catalogue
from shared.crm.client import CrmClient
from shared.crm.fields import canonical_fields, read_attributes
from shared.exchange import fields as exchange_fields
from shared.exchange.client import ExchangeClient
from shared.settings import SANDBOX_CRM_SECRET, ExchangeSettings
from tests.integration.admin_api.serving import Tokens, admin_settings, serve

T = TypeVar("T")
CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def crm_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmSandboxUrls]:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), port=0) as urls:
        yield urls


@pytest.fixture(scope="module")
def ews_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeSandboxUrls]:
    with serve_exchange(ExchangeSandboxSettings(data_dir=tmp_path_factory.mktemp("ews")), port=0) as urls:
        yield urls


@dataclass(frozen=True)
class Sides:
    """Both sandboxes and the test's Redis, driven through fieldsync's own clients (one event loop per call,
    so the synchronous CLI tests can use it between commands)."""

    crm_urls: CrmSandboxUrls
    ews_urls: ExchangeSandboxUrls
    redis_url: str

    def run(self, work: Callable[[CrmClient, ExchangeClient, Redis], Awaitable[T]]) -> T:
        async def session() -> T:
            crm = CrmClient(self.crm_urls.api_url, self.crm_urls.token_url, "fieldsync", SecretStr(SANDBOX_CRM_SECRET))
            ews = ExchangeClient(ExchangeSettings(ews_url=self.ews_urls.ews_url, ews_max_workers=2))
            redis = Redis.from_url(self.redis_url)
            try:
                return await work(crm, ews, redis)
            finally:
                await ews.close()
                await crm.aclose()
                await redis.aclose()

        return asyncio.run(session())

    def mailbox(self) -> str:
        address = f"verify-{uuid.uuid4().hex[:10]}@sandbox.local"
        response = httpx.post(self.ews_urls.mailboxes_url, json={"address": address, "display_name": "Verify"})
        assert response.status_code == 201, response.text
        return address

    def linked(self, mailbox: str, entity: str, row: dict[str, Any]) -> Pair:
        """A CRM record and its mailbox item, made the way the appliers make a counterpart, and linked."""
        spec = CATALOGUE.entities[entity]

        async def work(crm: CrmClient, ews: ExchangeClient, redis: Redis) -> Pair:
            crm_id = str((await crm.create(spec.entity_set, row))[spec.key_attribute])
            values = canonical_fields(spec, await crm.get(spec.entity_set, crm_id, read_attributes(spec)))
            item = await ews.create(mailbox, entity, exchange_fields.to_exchange(entity, values).attributes)
            await redis.hset(redis_keys.link_by_crm(entity, crm_id), mailbox, item.exchange_id)
            await redis.set(redis_keys.link_by_exchange(mailbox, item.exchange_id), f"{entity}:{crm_id}")
            return Pair(entity=entity, crm_id=crm_id, mailbox=mailbox, exchange_id=item.exchange_id)

        return self.run(work)

    def edit_crm(self, pair: Pair, body: dict[str, Any]) -> None:
        entity_set = CATALOGUE.entities[pair.entity].entity_set
        self.run(lambda crm, _ews, _redis: crm.update(entity_set, pair.crm_id, body))

    def edit_exchange(self, pair: Pair, changed: dict[str, Any]) -> None:
        """Change canonical fields of the mailbox item directly (as a user in Outlook would)."""

        async def work(_crm: CrmClient, ews: ExchangeClient, _redis: Redis) -> None:
            item = await ews.get_item(pair.mailbox, pair.entity, pair.exchange_id)
            assert item is not None
            write = exchange_fields.to_exchange(pair.entity, changed, item.attributes)
            await ews.update(pair.mailbox, pair.entity, pair.exchange_id, item.changekey, write.attributes)

        self.run(work)

    def delete_exchange(self, pair: Pair) -> None:
        self.run(lambda _crm, ews, _redis: ews.delete(pair.mailbox, pair.entity, pair.exchange_id))


@pytest.fixture
def sides(crm_sandbox: CrmSandboxUrls, ews_sandbox: ExchangeSandboxUrls, redis_url: str) -> Sides:
    return Sides(crm_sandbox, ews_sandbox, redis_url)


@pytest.fixture
def tokens() -> Tokens:
    return Tokens.fresh()


@pytest.fixture
def api_url(
    crm_sandbox: CrmSandboxUrls, ews_sandbox: ExchangeSandboxUrls, redis_url: str, kafka_bootstrap: str, tokens: Tokens
) -> Iterator[str]:
    """The admin API over real HTTP, reading the test's Redis and both sandboxes."""
    settings = admin_settings(
        redis_url, kafka_bootstrap, tokens,
        crm_base_url=crm_sandbox.api_url, crm_token_url=crm_sandbox.token_url, ews_url=ews_sandbox.ews_url,
        verify_batch_size=2,  # several batches even for a few pairs
    )
    with serve(settings) as url:
        yield url
