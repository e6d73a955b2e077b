"""The embedded infrastructure: broker and redis-server start, topics exist, a round trip works, AOF survives."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient

from infra.runner.infra import redis_process, redis_ready
from shared import topics
from shared.kafka import make_consumer, make_producer
from shared.settings import KafkaSettings
from tests.support import free_port

pytestmark = pytest.mark.integration


async def test_every_registry_topic_exists_with_its_partitions(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = set(await admin.list_topics())
        described = await admin.describe_topics([t.full_name for t in topics.ALL])
    finally:
        await admin.close()
    assert {t.full_name for t in topics.ALL} <= names
    assert all(len(d["partitions"]) == 3 for d in described)


async def test_produce_consume_round_trip(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    key, value = f"k-{uuid.uuid4()}", uuid.uuid4().bytes
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topics.DEADLETTER.full_name, value=value, key=key)
    finally:
        await producer.stop()
    consumer = make_consumer(settings, topics.DEADLETTER.full_name, group_id=f"t-{uuid.uuid4()}")
    await consumer.start()
    try:
        async def find() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            return any(r.key == key.encode() and r.value == value for rs in batch.values() for r in rs)

        found = False
        for _ in range(40):
            if await find():
                found = True
                break
        assert found, "the produced record never came back"
    finally:
        await consumer.stop()


def test_redis_aof_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "redis"
    first = redis_process(port, data, tmp_path / "logs").start()
    try:
        first.wait_ready(lambda: redis_ready(port))
        client = redis.Redis(host="127.0.0.1", port=port)
        client.set("fs:test:durable", "kept")
        client.config_set("appendfsync", "always")
        client.set("fs:test:durable2", "kept too")
    finally:
        first.stop()
    assert list(data.glob("appendonlydir/*.aof")), "no AOF written"
    second = redis_process(port, data, tmp_path / "logs").start()
    try:
        second.wait_ready(lambda: redis_ready(port))
        client = redis.Redis(host="127.0.0.1", port=port)
        assert client.get("fs:test:durable") == b"kept"
        assert client.get("fs:test:durable2") == b"kept too"
    finally:
        second.stop()
