"""The recorder loop against fakes of its ports: what it records, commits, rewinds and dead-letters."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from services.recorder.loop import RecorderLoop
from shared import kafka, topics
from shared.dead_letter_log import DeadLetter
from shared.events import DeltaApplied, Source, SyncDecision

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = b"contact:c-1"
    timestamp: int = 1_772_323_200_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class FakeConsumer:
    """Hands out each batch once, then stops the loop; remembers commits and seeks."""

    batches: list[dict[TopicPartition, list[Record]]]
    stop: asyncio.Event
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        if not self.batches:
            self.stop.set()
            return {}
        return self.batches.pop(0)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def send_and_wait(self, topic: str, value: bytes, key: Any = None, headers: Any = None) -> None:
        self.sent.append((topic, value, headers or []))


@dataclass
class FakeLogs:
    decisions: list[SyncDecision] = field(default_factory=list)
    applied: list[DeltaApplied] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)  # raised, one per call, before recording

    async def record_decision(self, decision: SyncDecision) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.decisions.append(decision)
        return 1

    async def record_applied(self, applied: DeltaApplied) -> int:
        self.applied.append(applied)
        return 1

    async def record(self, letter: DeadLetter) -> bool:
        self.letters.append(letter)
        return True


def decision() -> bytes:
    return SyncDecision(
        event_id=str(uuid.uuid4()), occurred_at=NOW, captured_at=NOW, source=Source(system="crm"), entity="contact",
        op="update", crm_id="c-1", policy_version=1, decided_at=NOW,
    ).model_dump_json().encode()


def run(batches: list[dict[TopicPartition, list[Record]]], logs: FakeLogs) -> tuple[FakeConsumer, FakeProducer]:
    stop = asyncio.Event()
    consumer, producer = FakeConsumer(batches, stop), FakeProducer()
    loop = RecorderLoop(consumer, producer, logs, logs, backoff_cap_s=0.0, max_attempts=2)  # type: ignore[arg-type]
    asyncio.run(loop.run(stop))
    return consumer, producer


DECISIONS = TopicPartition(topics.DECISIONS.full_name, 0)
DEADLETTER = TopicPartition(topics.DEADLETTER.full_name, 1)


def test_decisions_and_dead_letters_are_recorded_and_each_partition_committed_past_its_batch() -> None:
    logs = FakeLogs()
    headers = kafka.dead_letter_headers("CRM 400", "crm_applier", topics.DELTAS_CRM.full_name, 3, 9)
    batch = {
        DECISIONS: [Record(DECISIONS.topic, 0, 5, decision()), Record(DECISIONS.topic, 0, 6, decision())],
        DEADLETTER: [Record(DEADLETTER.topic, 1, 40, b"raw bytes", headers=headers)],
    }
    consumer, producer = run([batch], logs)
    assert len(logs.decisions) == 2 and producer.sent == []
    [letter] = logs.letters
    assert (letter.letter_id.rsplit(":", 1)[0], letter.service, letter.reason, letter.value) == (
        f"{topics.DELTAS_CRM.full_name}:3:9", "crm_applier", "CRM 400", b"raw bytes"
    )
    assert consumer.commits == [{DECISIONS: 7}, {DEADLETTER: 41}]


def test_an_invalid_decision_is_dead_lettered_and_the_partition_moves_on() -> None:
    logs = FakeLogs()
    consumer, producer = run([{DECISIONS: [Record(DECISIONS.topic, 0, 5, b"not json")]}], logs)
    [(topic, value, headers)] = producer.sent
    assert (topic, value) == (topics.DEADLETTER.full_name, b"not json")
    assert dict(headers)[kafka.SERVICE_HEADER] == b"recorder"
    assert consumer.commits == [{DECISIONS: 6}]


def test_redis_away_rewinds_to_the_record_and_nothing_past_it_is_committed_until_it_is_recorded() -> None:
    logs = FakeLogs(failures=[RedisConnectionError("down")] * 3)
    records = [Record(DECISIONS.topic, 0, 5, decision()), Record(DECISIONS.topic, 0, 6, decision())]
    consumer, _ = run([{DECISIONS: records}] * 4, logs)  # the fake re-delivers the batch after each rewind
    assert consumer.seeks == [(DECISIONS, 5)] * 3  # transient: retried past max_attempts, never dead-lettered
    assert consumer.commits == [{DECISIONS: 7}] and len(logs.decisions) == 2


def test_a_record_failing_the_same_way_is_dead_lettered_after_its_attempts() -> None:
    logs = FakeLogs(failures=[ValueError("poison")] * 2)
    record = Record(DECISIONS.topic, 0, 5, decision())
    consumer, producer = run([{DECISIONS: [record]}] * 2, logs)
    assert consumer.seeks == [(DECISIONS, 5)]
    [(topic, _value, headers)] = producer.sent
    assert topic == topics.DEADLETTER.full_name and b"poison" in dict(headers)[kafka.ERROR_HEADER]
    assert consumer.commits == [{DECISIONS: 6}] and logs.decisions == []
