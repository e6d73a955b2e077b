"""A poison change in the policy worker: tried a bounded number of times, dead-lettered with its exception, and the
next change on the same partition is decided (a deterministic failure never stalls the partition)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaConsumer

from infra.runner.process import ManagedProcess
from shared import topics
from shared.kafka import ERROR_HEADER, EXCEPTION_HEADER, TRACEBACK_HEADER, encode, make_producer
from shared.settings import KafkaSettings
from tests.conftest import _db_numbers
from tests.integration.policy.test_policy_worker import crm_change
from tests.security_rows import seed_security
from tests.support import eventually_async

pytestmark = pytest.mark.integration
POISON = str(uuid.uuid4())  # the event id the worker's handler crashes on
ATTEMPTS = 3


@pytest.fixture(scope="module")
def poisoned_worker(
    kafka_bootstrap: str, redis_host_port: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The production app with a handler that crashes on the POISON change (tests/.../poisoned_worker.py)."""
    data_dir: Path = tmp_path_factory.mktemp("policy-poison")
    host, port = redis_host_port
    db = next(_db_numbers)  # a database of its own from the session's rotation
    client = redis.Redis(host=host, port=port, db=db)
    client.flushdb()
    seed_security(client)  # the policy decides nothing before it knows the CRM's security
    env = {
        "FIELDSYNC_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FIELDSYNC_REDIS_URL": f"redis://{host}:{port}/{db}",
        "FIELDSYNC_DATA_DIR": str(data_dir),
        "FIELDSYNC_POLICY_GROUP_ID": f"policy-poison-{uuid.uuid4().hex[:8]}",
        "FIELDSYNC_DEAD_LETTER_AFTER_ATTEMPTS": str(ATTEMPTS),
        "FIELDSYNC_TEST_POISON": POISON,
        "PYTHONPATH": os.getcwd(),
    }
    log = data_dir / "policy.log"
    command = [sys.executable, "-m", "tests.integration.policy.poisoned_worker"]
    worker = ManagedProcess("policy", command, log, env=env)
    worker.start()
    try:
        worker.wait_ready(lambda: "Worker]: Ready" in log.read_text(errors="replace"), 60)
        yield log
    finally:
        worker.stop()


@pytest.fixture
async def outputs(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topics.DELTAS_EXCHANGE.full_name, topics.DEADLETTER.full_name, bootstrap_servers=kafka_bootstrap,
        group_id=f"rec-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest", fetch_max_wait_ms=10,
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    yield consumer
    await consumer.stop()


async def test_a_poison_change_is_dead_lettered_after_its_attempts_and_the_next_change_is_decided(
    kafka_bootstrap: str, poisoned_worker: Path, outputs: AIOKafkaConsumer
) -> None:
    crm_id = str(uuid.uuid4())
    poison = crm_change(crm_id, {"telephone1": "+1 555 0111"}).model_copy(update={"event_id": POISON})
    after = crm_change(crm_id, {"telephone1": "+1 555 0112"}, op="update")
    key = f"contact:{crm_id}".encode()  # one key: one partition, the poison first
    producer = make_producer(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    await producer.start()
    try:
        for change in (poison, after):
            await producer.send_and_wait(topics.CRM_CHANGES.full_name, key=key, value=encode(change))
    finally:
        await producer.stop()
    seen: list[Any] = []

    async def dead_letter_and_next_delta() -> tuple[Any, Any] | None:
        for records in (await outputs.getmany(timeout_ms=200)).values():
            seen.extend(r for r in records if r.value and crm_id.encode() in r.value)
        letters = [r for r in seen if r.topic == topics.DEADLETTER.full_name]
        deltas = [r for r in seen if r.topic == topics.DELTAS_EXCHANGE.full_name and after.event_id.encode() in r.value]
        return (letters[0], deltas[0]) if letters and deltas else None

    letter, delta = await eventually_async(dead_letter_and_next_delta, timeout=30,
                                           what="the poison dead-lettered and the next change decided")
    headers = dict(letter.headers)
    assert letter.value == encode(poison) and letter.key == key  # the original bytes and key
    assert headers[EXCEPTION_HEADER] == b"KeyError"
    assert headers[ERROR_HEADER].decode() == (
        f"failed {ATTEMPTS} times the same way: KeyError: 'poison: a field the rules do not know'"
    )
    assert b"poisoned_worker.py" in headers[TRACEBACK_HEADER] and b"in on_change" in headers[TRACEBACK_HEADER]
    assert headers["fs-service"] == b"policy" and headers["fs-origin-topic"] == topics.CRM_CHANGES.full_name.encode()
    assert POISON.encode() not in delta.value  # the poison itself produced no delta
    assert not [r for r in seen if r.topic == topics.DELTAS_EXCHANGE.full_name and POISON.encode() in r.value]
    log = await asyncio.to_thread(poisoned_worker.read_text, errors="replace")
    assert log.count("poisoned handler crashes on the poison change") == ATTEMPTS
    assert f"after {ATTEMPTS} attempts, dead-lettering it" in log
