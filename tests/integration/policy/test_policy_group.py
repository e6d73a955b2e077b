"""Two policy workers in one group: a PolicyChanged reaches one of them through the group, yet both switch within
a second (each worker's doorbell). The Redis refresh is slowed to 10 minutes, so only the bus can switch them."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.asyncio import Redis

from infra.runner.process import ManagedProcess
from shared import topics
from shared.events import PolicyChanged
from shared.kafka import encode, make_producer
from shared.policy_store import DirectionChange, PolicyStore
from shared.settings import KafkaSettings
from tests.integration.policy.test_policy_worker import crm_change
from tests.security_rows import seed_security
from tests.support import eventually, eventually_async

pytestmark = pytest.mark.integration
ASSIGNED = re.compile(r"policy worker assigned: (.*)$", re.MULTILINE)


def changes_partitions(log: Path) -> set[int] | None:
    """The crm.changes partitions the worker's latest assignment gave it (None before its first one)."""
    found = ASSIGNED.findall(log.read_text(errors="replace")) if log.exists() else []
    if not found:
        return None
    name = re.escape(topics.CRM_CHANGES.full_name)
    return {int(p) for p in re.findall(rf"{name}\[(\d+)\]", found[-1])}


@pytest.fixture
def workers(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[list[Path]]:
    """Two workers of one fresh group; yields their log paths once both own a share of crm.changes."""
    group = f"policy-group-{uuid.uuid4().hex[:8]}"
    started: list[ManagedProcess] = []
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    seed_security(redis_client.Redis.from_url(redis_url))  # the policy decides nothing before it knows security
    try:
        for n, log in enumerate(logs, start=1):
            env = {
                "FIELDSYNC_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "FIELDSYNC_REDIS_URL": redis_url,
                "FIELDSYNC_DATA_DIR": str(tmp_path / f"data-{n}"),
                "FIELDSYNC_POLICY_GROUP_ID": group,
                "FIELDSYNC_POLICY_REFRESH_INTERVAL_S": "600",
                "PYTHONPATH": os.getcwd(),
            }
            worker = ManagedProcess(f"policy-{n}", [sys.executable, "-m", "services.policy"], log, env=env)
            started.append(worker.start())

        def shared_out() -> bool:
            owned = [changes_partitions(log) for log in logs]
            return all(owned) and not (owned[0] or set()) & (owned[1] or set())

        eventually(shared_out, timeout=90, interval=0.2, what="both workers own a share of crm.changes")
        yield logs
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    prod = make_producer(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    await prod.start()
    yield prod
    await prod.stop()


class Decisions:
    """Decisions published since the fixture started, read from the end of the topic on each `pump()`."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.seen: list[dict[str, Any]] = []

    async def pump(self) -> list[dict[str, Any]]:
        for batch in (await self.consumer.getmany(timeout_ms=20)).values():
            self.seen.extend(json.loads(record.value or b"{}") for record in batch)
        return self.seen


@pytest.fixture
async def decisions(kafka_bootstrap: str) -> AsyncIterator[Decisions]:
    consumer = AIOKafkaConsumer(
        topics.DECISIONS.full_name, bootstrap_servers=kafka_bootstrap, group_id=None,
        auto_offset_reset="latest", fetch_max_wait_ms=10,
    )  # fmt: skip
    await consumer.start()
    try:
        yield Decisions(consumer)
    finally:
        await consumer.stop()


async def test_every_worker_of_the_group_switches_within_a_second(
    workers: list[Path], producer: AIOKafkaProducer, decisions: Decisions, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    store = PolicyStore(redis)
    before = await eventually_async(store.get, timeout=30, what="the workers seeded the policy")
    assert before is not None
    partitions = sorted(await producer.partitions_for(topics.CRM_CHANGES.full_name))
    probe = f"group-{uuid.uuid4().hex[:8]}"
    first_new: dict[int, float] = {}
    sent_at: dict[str, tuple[int, float]] = {}

    async def one_round(version: int) -> dict[int, float] | None:
        """A probe into every partition, so both workers decide; the partitions seen deciding under `version`."""
        for partition in partitions:
            crm_id = f"{probe}-{partition}-{uuid.uuid4().hex[:6]}"
            change = crm_change(crm_id, {"department": "d"})
            await producer.send_and_wait(topics.CRM_CHANGES.full_name, encode(change), key=f"contact:{crm_id}",
                                         partition=partition)  # fmt: skip
            sent_at[crm_id] = (partition, time.monotonic())
        for decision in await decisions.pump():
            partition, _ = sent_at.get(decision.get("crm_id", ""), (-1, 0.0))
            if partition >= 0 and decision["policy_version"] == version:
                first_new.setdefault(partition, time.monotonic())
        return first_new if set(first_new) == set(partitions) else None

    # Every partition decides under the seeded version first: both workers are up and deciding.
    await eventually_async(lambda: one_round(before.version), timeout=30, what="decisions from every partition")
    first_new.clear()
    new = await store.apply([DirectionChange(entity="contact", field="department", direction="none")], "it",
                            datetime.now(UTC))  # fmt: skip
    await redis.aclose()
    event = PolicyChanged(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), actor="it", policy=new)
    await producer.send_and_wait(topics.POLICY.full_name, encode(event), key=b"policy")
    published_at = time.monotonic()

    switched = await eventually_async(lambda: one_round(new.version), timeout=20, what="every partition switched")
    slowest = max(switched.values()) - published_at
    assert slowest < 1.0, f"the slowest worker switched after {slowest:.3f}s"
    # Once a partition decided under the new version, it never went back.
    for decision in await decisions.pump():
        partition, at = sent_at.get(decision.get("crm_id", ""), (-1, 0.0))
        if partition >= 0 and at > switched[partition]:
            assert decision["policy_version"] == new.version
    print(f"both workers switched; the slowest partition after {slowest * 1000:.0f} ms")
