"""The policy worker through a Redis outage: a change that arrives while Redis is down is decided and published
once Redis is back (not acked and lost), and the worker itself survives the outage (refresh timer included)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as redis_client
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from infra.runner.infra import redis_process, redis_ready
from infra.runner.process import ManagedProcess, free_port
from shared import topics
from shared.kafka import encode, make_producer
from shared.policy_store import PolicyStore
from shared.settings import KafkaSettings
from tests.integration.policy.test_policy_worker import crm_change
from tests.security_rows import seed_security
from tests.support import eventually_async

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ManagedProcess, int]]:
    """A redis-server for this worker alone, so the test can take it away and bring it back (same port, same data)."""
    port, base = free_port(), tmp_path_factory.mktemp("outage-redis")
    server = redis_process(port, base / "data", base)
    server.start()
    try:
        server.wait_ready(lambda: redis_ready(port), 30)
        yield server, port
    finally:
        server.stop()


@pytest.fixture(scope="module")
def outage_worker(
    kafka_bootstrap: str, own_redis: tuple[ManagedProcess, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The worker with a fast refresh timer, so the outage also hits the timer (it must not crash the app)."""
    data_dir: Path = tmp_path_factory.mktemp("policy-outage")
    seed_security(redis_client.Redis(port=own_redis[1]))  # the policy decides nothing before it knows security
    env = {
        "FIELDSYNC_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FIELDSYNC_REDIS_URL": f"redis://127.0.0.1:{own_redis[1]}/0",
        "FIELDSYNC_DATA_DIR": str(data_dir),
        "FIELDSYNC_POLICY_GROUP_ID": f"policy-outage-{uuid.uuid4().hex[:8]}",
        "FIELDSYNC_POLICY_REFRESH_INTERVAL_S": "0.2",
        "PYTHONPATH": os.getcwd(),
    }
    log = data_dir / "policy.log"
    worker = ManagedProcess("policy", [sys.executable, "-m", "services.policy"], log, env=env)
    worker.start()
    try:
        worker.wait_ready(lambda: "Worker]: Ready" in log.read_text(errors="replace"), 60)
        yield log
    finally:
        worker.stop()


@pytest.fixture
async def outputs(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topics.DELTAS_EXCHANGE.full_name, topics.DECISIONS.full_name, bootstrap_servers=kafka_bootstrap,
        group_id=f"rec-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest", fetch_max_wait_ms=10,
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    yield consumer
    await consumer.stop()


async def test_a_change_during_a_redis_outage_is_published_once_redis_is_back(  # type: ignore[no-untyped-def]
    kafka_bootstrap, own_redis, outage_worker, outputs
) -> None:
    server, port = own_redis
    redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    await eventually_async(PolicyStore(redis).get, timeout=30, what="the worker seeded the policy")
    await redis.aclose()
    server.stop()
    crm_id = str(uuid.uuid4())
    producer = make_producer(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    await producer.start()
    try:
        change = crm_change(crm_id, {"telephone1": "+1 555 0199"})
        await producer.send_and_wait(
            topics.CRM_CHANGES.full_name, key=f"contact:{crm_id}".encode(), value=encode(change)
        )
    finally:
        await producer.stop()

    async def redis_failure_seen() -> bool | None:
        return "ConnectionError" in outage_worker.read_text(errors="replace") or None

    # The worker met the outage (on the change or the timer) before Redis comes back.
    await eventually_async(redis_failure_seen, timeout=30, what="the worker hit the Redis outage")
    server.start()
    server.wait_ready(lambda: redis_ready(port), 30)

    seen: dict[str, list[bytes]] = {topics.DELTAS_EXCHANGE.full_name: [], topics.DECISIONS.full_name: []}

    async def delta_and_decision() -> bool | None:
        batches = await outputs.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                if record.value and crm_id.encode() in record.value:
                    seen[record.topic].append(record.value)
        return all(seen.values()) or None

    await eventually_async(
        delta_and_decision, timeout=30, what="the delta and decision of the change sent during the outage"
    )
    assert all(change.event_id.encode() in values[0] for values in seen.values())
