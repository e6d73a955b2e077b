"""CRM-side integration fixtures: a sandbox per test over real HTTP, users, clients and topic readers."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from services.crm_applier.main import run as run_applier
from services.crm_applier.settings import CrmApplierSettings
from shared.clients.crm import CrmClient, RetryPolicy
from shared.settings import SANDBOX_CRM_SECRET
from tests.integration.crm.harness import applier_settings, run_service, skip_to_end, stop_service

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.05, cap_s=0.5)


@pytest.fixture
def crm_sandbox(tmp_path: Path) -> Iterator[CrmSandboxUrls]:
    """A fresh sandbox CRM (its own SQLite file) on a free port, for one test."""
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as urls:
        yield urls


def client_for(urls: CrmSandboxUrls, caller_id: str | None = None, retry: RetryPolicy = FAST_RETRY) -> CrmClient:
    return CrmClient(
        urls.api_url, urls.token_url, "fieldsync", SecretStr(SANDBOX_CRM_SECRET), retry=retry, caller_id=caller_id
    )


@pytest.fixture
async def crm_client(crm_sandbox: CrmSandboxUrls) -> AsyncIterator[CrmClient]:
    """The client acting as the application user (what fieldsync's services write as)."""
    async with client_for(crm_sandbox) as client:
        yield client


@dataclass(frozen=True)
class CrmUser:
    """A human CRM user with a mailbox, and a client whose writes are attributed to them."""

    id: str
    email: str
    client: CrmClient


@pytest.fixture
async def crm_user(crm_sandbox: CrmSandboxUrls, crm_client: CrmClient) -> AsyncIterator[CrmUser]:
    email = f"user-{uuid.uuid4().hex[:8]}@sandbox.local"
    row = await crm_client.create(
        "systemusers", {"firstname": "Test", "lastname": "User", "internalemailaddress": email, "domainname": email}
    )
    async with client_for(crm_sandbox, caller_id=row["systemuserid"]) as client:
        yield CrmUser(row["systemuserid"], email, client)


def set_faults(urls: CrmSandboxUrls, **knobs: Any) -> None:
    response = httpx.put(urls.faults_url, json=knobs)
    assert response.status_code == 200, response.text


class TopicReader:
    """Reads a topic from its beginning without a group; keeps every record seen, to wait on."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        self.records: list[Any] = []

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def wait_for(
        self, predicate: Callable[[Any], bool], count: int = 1, timeout: float = 15.0, what: str = ""
    ) -> list[Any]:
        """Poll until `count` records match (deadline, no sleeps); returns the matching records."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [r for r in self.records if predicate(r)]
            if len(matching) >= count:
                return matching
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout}s: {what or 'records'} (matched {len(matching)})")
            batch = await self.consumer.getmany(timeout_ms=100)
            for records in batch.values():
                self.records.extend(records)

    def matching(self, predicate: Callable[[Any], bool]) -> list[Any]:
        return [r for r in self.records if predicate(r)]


@pytest.fixture
async def read_topic(kafka_bootstrap: str) -> AsyncIterator[Callable[[str], Any]]:
    """`reader = await read_topic(topics.X.full_name)`: readers are stopped after the test."""
    readers: list[TopicReader] = []

    async def open_reader(topic: str) -> TopicReader:
        reader = TopicReader(kafka_bootstrap, topic)
        await reader.start()
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        with contextlib.suppress(Exception):
            await reader.stop()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def applier(
    crm_sandbox: CrmSandboxUrls, kafka_bootstrap: str, redis_url: str
) -> AsyncIterator[CrmApplierSettings]:
    """crm_applier running (its composition root) against the test's sandbox and Redis, from the topic's end."""
    settings = applier_settings(crm_sandbox, kafka_bootstrap, redis_url)
    await skip_to_end(kafka_bootstrap, settings.crm_applier_group_id)
    service = await run_service(run_applier, settings)
    yield settings
    await stop_service(*service)
