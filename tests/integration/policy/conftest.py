"""Fixtures: one policy worker (python -m services.policy) on the session's broker and a Redis database of its own,
and a recorder of everything the worker publishes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from infra.runner.process import ManagedProcess
from shared import topics
from shared.kafka import make_producer
from shared.settings import KafkaSettings
from tests.integration.harness import skip_to_end
from tests.security_rows import seed_security

# A database of the session's redis-server the rotating `redis_url` fixture never hands out.
POLICY_DB = 0
OUTPUTS = (topics.DELTAS_CRM, topics.DELTAS_EXCHANGE, topics.DECISIONS, topics.DEADLETTER)


@pytest.fixture(scope="module")
def policy_redis_url(redis_host_port: tuple[str, int]) -> str:
    host, port = redis_host_port
    client = redis.Redis(host=host, port=port, db=POLICY_DB)
    client.flushdb()
    seed_security(client)  # the policy decides nothing before it knows the CRM's security
    return f"redis://{host}:{port}/{POLICY_DB}"


@contextlib.contextmanager
def running_worker(kafka_bootstrap: str, redis_url: str, data_dir: Path, group: str,
                   skip_to_end_of: tuple[str, ...] = (), **settings: str) -> Iterator[ManagedProcess]:  # fmt: skip
    """`python -m services.policy` as production runs it, ready; `settings` are more FIELDSYNC_ variables.

    `skip_to_end_of`: topics the worker's group starts reading at their end (what earlier tests left is ignored)."""
    group_id = f"{group}-{uuid.uuid4().hex[:8]}"
    for topic in skip_to_end_of:  # a sync fixture: its own event loop, in a thread of its own
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, skip_to_end(kafka_bootstrap, group_id, topic)).result()
    env = {
        "FIELDSYNC_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FIELDSYNC_REDIS_URL": redis_url,
        "FIELDSYNC_DATA_DIR": str(data_dir),
        "FIELDSYNC_POLICY_GROUP_ID": group_id,
        **{f"FIELDSYNC_{name.upper()}": value for name, value in settings.items()},
        "PYTHONPATH": os.getcwd(),
    }
    worker = ManagedProcess("policy", [sys.executable, "-m", "services.policy"], data_dir / "policy.log", env=env)
    worker.start()
    try:
        worker.wait_ready(lambda: "Worker]: Ready" in (data_dir / "policy.log").read_text(errors="replace"), 60)
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def policy_worker(
    kafka_bootstrap: str, policy_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedProcess]:
    """The worker as production runs it; the Redis refresh is slowed so a switch can only come from the bus."""
    data_dir: Path = tmp_path_factory.mktemp("policy")
    with running_worker(kafka_bootstrap, policy_redis_url, data_dir, "policy-it",
                        policy_refresh_interval_s="600") as worker:  # fmt: skip
        yield worker


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    prod = make_producer(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    await prod.start()
    yield prod
    await prod.stop()


@dataclass
class Recorder:
    """Every record the worker published since the module started, as (topic, key, value, headers)."""

    records: list[tuple[str, str, bytes, dict[str, bytes]]] = field(default_factory=list)

    def find(self, topic: topics.Topic, needle: str) -> list[tuple[str, bytes, dict[str, bytes]]]:
        return [
            (k, v, h) for t, k, v, h in self.records if t == topic.full_name and needle in v.decode(errors="replace")
        ]


@pytest.fixture(scope="module")
async def published(kafka_bootstrap: str, policy_worker: ManagedProcess) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    consumer = AIOKafkaConsumer(
        *(t.full_name for t in OUTPUTS), bootstrap_servers=kafka_bootstrap, group_id=f"rec-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", fetch_max_wait_ms=10, enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()

    async def pump() -> None:
        """Lifecycle: runs until the module's tests are done; records are kept in memory, nothing committed."""
        async for record in consumer:
            headers = {name: value for name, value in record.headers or ()}
            recorder.records.append((record.topic, (record.key or b"").decode(), record.value or b"", headers))

    task = asyncio.create_task(pump())
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
