"""The delivery loop on a real broker: keys run concurrently, one key's deltas in order, no commit past a failure."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError

from services.exchange_applier.apply import applied_event
from shared import topics
from shared.delivery import DeliveryLoop
from shared.events import DeltaApplied, ItemDelta, Source
from shared.kafka import ERROR_HEADER, EXCEPTION_HEADER, TRACEBACK_HEADER, decode, encode, make_consumer
from shared.settings import KafkaSettings
from tests.support import eventually_async

pytestmark = pytest.mark.integration


@dataclass
class RecordingSide:
    """A side that only records when each write starts and ends; `slow` writes take longer, `broken` ones
    fail like an unreachable Redis would (an infrastructure error the loop must retry, not dead-letter)."""

    slow: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    poison: set[str] = field(default_factory=set)  # fail the same way every time: a bug, not an outage
    log: list[tuple[str, str]] = field(default_factory=list)
    service: str = "test_delivery"
    permanent: tuple[type[Exception], ...] = (ValueError,)
    transient: tuple[type[Exception], ...] = ()

    def validate(self, delta: ItemDelta) -> str | None:
        return None

    async def write(self, delta: ItemDelta) -> None:
        name = delta.changed["name"]
        if name in self.broken:
            self.log.append((name, "failed"))
            raise ConnectionError(f"{name}: the state store is unreachable")
        if name in self.poison:
            self.log.append((name, "crashed"))
            raise KeyError(f"{name}: no such field")
        self.log.append((name, "start"))
        await asyncio.sleep(0.4 if name in self.slow else 0.01)
        self.log.append((name, "end"))

    def applied(self, delta: ItemDelta, outcome: None, *, event_id: str, applied_at: datetime,
                error: str | None) -> DeltaApplied:
        return applied_event(delta, event_id=event_id, result="applied", applied_at=applied_at,
                             exchange_id=None, error=error)

    def at(self, name: str, what: str) -> int:
        return self.log.index((name, what))


def delta(name: str) -> ItemDelta:
    now = datetime.now(UTC)
    return ItemDelta(
        event_id=str(uuid.uuid4()), occurred_at=now, captured_at=now, source=Source(system="crm"), entity="task",
        op="update", crm_id=str(uuid.uuid4()), mailbox="test@example.test", changed={"name": name},
        target="exchange", policy_version=1, decided_at=now, causation_id=str(uuid.uuid4()),
    )


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    """A topic of its own with one partition, so the test's records share one batch and one offset line."""
    name = f"test-delivery-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return name


@pytest.fixture
async def deliver(kafka_bootstrap: str, topic: str) -> AsyncIterator[Callable[..., Any]]:
    """`loop = await deliver(side, [(key, name), ...])`: produce the records, then run a loop over them."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    running: list[tuple[asyncio.Task[None], asyncio.Event, Any]] = []

    async def start(side: RecordingSide, records: list[tuple[str, str]]) -> DeliveryLoop[None]:
        for key, name in records:
            await producer.send_and_wait(topic, encode(delta(name)), key=key.encode())
        consumer = make_consumer(KafkaSettings(bootstrap_servers=kafka_bootstrap), topic,
                                 group_id=f"test-delivery-{uuid.uuid4().hex[:8]}", session_timeout_ms=2000,
                                 heartbeat_interval_ms=600)
        await consumer.start()
        loop = DeliveryLoop(consumer, producer, side, backoff_cap_s=0.2, concurrency=8)
        stop = asyncio.Event()
        running.append((asyncio.create_task(loop.run(stop)), stop, consumer))
        return loop

    yield start
    for task, stop, consumer in running:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await consumer.stop()
    await producer.stop()


async def committed(loop: DeliveryLoop[None], topic: str) -> int | None:
    result: int | None = await loop.consumer.committed(TopicPartition(topic, 0))
    return result


def committed_at(loop: DeliveryLoop[None], topic: str, offset: int) -> Callable[[], Any]:
    async def check() -> bool:
        return await committed(loop, topic) == offset
    return check


async def test_one_keys_deltas_apply_in_order_while_other_keys_run_alongside(
    deliver: Callable[..., Any], topic: str, read_topic: Callable[[str], Any]
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    side = RecordingSide(slow={"a1"})
    loop = await deliver(side, [("A", "a1"), ("B", "b1"), ("A", "a2"), ("C", "c1"), ("A", "a3"), ("B", "b2")])

    await eventually_async(committed_at(loop, topic, 6), timeout=20, what="every record committed")
    assert side.at("a1", "end") < side.at("a2", "start") < side.at("a2", "end") < side.at("a3", "start")
    assert side.at("b1", "end") < side.at("b2", "start")
    assert side.at("b2", "end") < side.at("a1", "end")  # B and C did not wait for the slow A
    assert side.at("c1", "end") < side.at("a1", "end")
    results = await applied.wait_for(
        lambda r: decode(DeltaApplied, r.value).mailbox == "test@example.test"
        and r.key is not None and r.key.decode() in {"A", "B", "C"}, count=6, what="six DeltaApplied")
    assert len(results) >= 6
    # Counted where it happened: each consumed delta, its write's result, its apply hop and its end-to-end latency.
    metrics, side_name = loop.metrics, "test_delivery"
    assert metrics.value("fieldsync_events_consumed_total", topic=topic) == 6
    assert metrics.value("fieldsync_writes_total", target=side_name, result="applied") == 6
    assert metrics.value("fieldsync_events_produced_total", topic=topics.APPLIED.full_name) == 6
    assert metrics.value("fieldsync_hop_latency_seconds_count", hop="apply") == 6
    assert metrics.value("fieldsync_sync_latency_seconds_count", direction=f"to_{side_name}", entity="task") == 6


async def test_a_failing_key_is_retried_and_nothing_past_it_is_committed(
    deliver: Callable[..., Any], topic: str
) -> None:
    side = RecordingSide(broken={"b1"})
    loop = await deliver(side, [("A", "a1"), ("B", "b1"), ("A", "a2"), ("B", "b2"), ("C", "c1")])

    async def retried() -> bool:  # more often than a deterministic failure is tried: an outage is never given up
        return side.log.count(("b1", "failed")) >= loop.max_attempts + 2

    await eventually_async(retried, timeout=20, what="b1 retried after backoffs")
    assert await committed(loop, topic) in (None, 1)  # a1 at most: b1 (offset 1) never committed past
    assert loop.attempts == {}  # transient failures are not counted towards dead-lettering
    assert loop.metrics.value("fieldsync_retries_total", target="test_delivery", status="unreachable") >= 2
    assert ("b2", "start") not in side.log  # the failing key's later delta waits for it

    side.broken.clear()
    await eventually_async(committed_at(loop, topic, 5), timeout=20,
                           what="every record committed once b1 went through")
    assert side.at("b1", "end") < side.at("b2", "start")
    assert [n for n, what in side.log if what == "start" and n.startswith("a")][:2] == ["a1", "a2"]


async def test_a_refused_commit_backs_off_and_commits_later_instead_of_exiting(
    deliver: Callable[..., Any], topic: str
) -> None:
    side = RecordingSide()
    refusals = 2
    loop = await deliver(side, [("A", "a1"), ("B", "b1")])
    real_commit = loop.consumer.commit

    async def flaky_commit(offsets: Any = None) -> None:  # the group is rebalancing: the broker refuses
        nonlocal refusals
        if refusals > 0:
            refusals -= 1
            raise CommitFailedError("the group rebalanced")
        await real_commit(offsets)

    loop.consumer.commit = flaky_commit  # type: ignore[method-assign]
    # Without the backoff the refused commit ends the loop and nothing is ever committed.
    await eventually_async(committed_at(loop, topic, 2), timeout=20, what="committed once the broker accepts")
    assert refusals == 0
    assert ("a1", "end") in side.log and ("b1", "end") in side.log


async def test_a_poison_delta_is_dead_lettered_after_its_attempts_and_the_partition_moves_on(
    deliver: Callable[..., Any], topic: str, read_topic: Callable[[str], Any]
) -> None:
    deadletters = await read_topic(topics.DEADLETTER.full_name)
    applied = await read_topic(topics.APPLIED.full_name)
    side = RecordingSide(poison={"p1"})
    loop = await deliver(side, [("A", "a1"), ("A", "p1"), ("A", "a2"), ("B", "b1")])

    await eventually_async(committed_at(loop, topic, 4), timeout=20, what="every record committed past the poison")
    assert side.log.count(("p1", "crashed")) == loop.max_attempts == 3
    assert side.at("a1", "end") < side.at("a2", "start")  # the same key's next delta was applied after it
    assert ("a2", "end") in side.log and ("b1", "end") in side.log
    [letter] = await deadletters.wait_for(lambda r: r.topic == topics.DEADLETTER.full_name and r.offset is not None
                                          and dict(r.headers).get("fs-origin-topic") == topic.encode(),
                                          what="the poison delta's dead letter")
    headers = dict(letter.headers)
    assert decode(ItemDelta, letter.value).changed == {"name": "p1"} and letter.key == b"A"  # the original bytes
    assert headers[EXCEPTION_HEADER] == b"KeyError"
    assert headers[ERROR_HEADER].decode().startswith("failed 3 times the same way: KeyError: ")
    assert b"in write" in headers[TRACEBACK_HEADER]
    assert headers["fs-origin-offset"] == b"1"
    [failed] = await applied.wait_for(  # this side reports every result as applied; the error says it failed
        lambda r: r.key == b"A" and "p1" in (decode(DeltaApplied, r.value).error or ""),
        what="the poison delta's DeltaApplied with its error")
    assert "KeyError" in (decode(DeltaApplied, failed.value).error or "")
    assert loop.attempts == {}  # nothing left counted once the record was dead-lettered
    assert loop.metrics.value("fieldsync_dead_letters_total", service="test_delivery", reason="repeated_failure") == 1
