"""The recorder loop: decisions, applier results and dead letters from the bus, kept in Redis by their logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared import topics
from shared.dead_letter_log import DeadLetter, from_record
from shared.events import DeltaApplied, SyncDecision
from shared.failures import describe, is_transient
from shared.kafka import decode, send_dead_letter
from shared.metrics import Metrics
from shared.pacing import backoff_delay

SERVICE = "recorder"
TOPICS = (topics.DECISIONS.full_name, topics.APPLIED.full_name, topics.DEADLETTER.full_name)
log = logging.getLogger("fieldsync.recorder")


class ExplainSink(Protocol):
    """Where decisions and results are kept (shared.explain_log.ExplainLog); both idempotent by event id."""

    async def record_decision(self, decision: SyncDecision) -> int: ...

    async def record_applied(self, applied: DeltaApplied) -> int: ...


class DeadLetterSink(Protocol):
    """Where dead letters are kept (shared.dead_letter_log.DeadLetterLog); idempotent by letter id."""

    async def record(self, letter: DeadLetter) -> bool: ...


@dataclass
class RecorderLoop:
    """Keeps three topics in Redis.

    Lifecycle:
    - start: `run(stop)` with the consumer (the recorder's group, manual commits, TOPICS) and the producer started;
      it resumes from the group's committed offsets (earliest for a new group).
    - each batch, per partition: every record is parsed and recorded (idempotent, so a replay is harmless), then
      the partition is committed past the batch. A decision or result that is no valid event goes to the
      dead-letter topic; a dead letter is recorded whatever its bytes are.
    - a failure: Redis or the broker away (shared.failures) rewinds the partition to the record and backs off,
      retried forever; any other failure of one record is tried `max_attempts` times, then that record is
      dead-lettered (a dead letter that cannot be kept is logged and skipped: there is nowhere further to send it).
    - shutdown: when `stop` is set the current batch finishes and is committed, then `run` returns; main.py stops
      the consumer and producer.
    """

    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    explain: ExplainSink
    letters: DeadLetterSink
    backoff_cap_s: float = 10.0
    max_attempts: int = 3
    attempts: dict[tuple[str, int, int], int] = field(default_factory=dict)
    metrics: Metrics | None = None  # events consumed per topic (the dead letters are counted where they are made)

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=200)
            errors = [await self._partition(tp, records) for tp, records in batches.items()]
            error = next((e for e in errors if e is not None), None)
            if error is None:
                if failures and batches:
                    log.info("recorder recovered after %d failed attempts", failures)
                    failures = 0
                continue
            failures += 1
            if failures == 1:
                log.warning("recorder cannot record now, backing off and retrying: %r", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff_delay(failures, 0.1, self.backoff_cap_s))

    async def _partition(self, tp: TopicPartition, records: list[Any]) -> Exception | None:
        done = records[0].offset
        error: Exception | None = None
        for record in records:
            try:
                await self._attempt(record)
            except Exception as exc:
                error = exc
                break
            done = record.offset + 1
        if self.metrics is not None and done > records[0].offset:
            self.metrics.consumed(tp.topic, done - records[0].offset)
        try:
            if done > records[0].offset:
                await self.consumer.commit({tp: done})
            if error is not None:
                self.consumer.seek(tp, done)
        except KafkaError as exc:  # rebalance or outage: the batch is read again (recording is idempotent)
            with contextlib.suppress(KafkaError):
                self.consumer.seek(tp, records[0].offset)
            return error or exc
        return error

    async def _attempt(self, record: Any) -> None:
        """Record one; raise again (rewind) while it may still succeed, give up on a poison record."""
        position = (record.topic, record.partition, record.offset)
        try:
            await self.handle(record)
        except Exception as exc:
            if is_transient(exc):
                raise
            count = self.attempts[position] = self.attempts.get(position, 0) + 1
            if count < self.max_attempts:
                raise
            self.attempts.pop(position, None)
            if record.topic == topics.DEADLETTER.full_name:
                log.error("recorder cannot keep dead letter %s[%d]@%d, skipping it: %s",
                          record.topic, record.partition, record.offset, describe(exc))
                return
            reason = f"failed {count} times the same way: {describe(exc)}"
            await send_dead_letter(self.producer, record, reason, SERVICE, exc)
            return
        self.attempts.pop(position, None)

    async def handle(self, record: Any) -> None:
        if record.topic == topics.DEADLETTER.full_name:
            await self.letters.record(from_record(record))
            return
        model: type[SyncDecision] | type[DeltaApplied] = (
            SyncDecision if record.topic == topics.DECISIONS.full_name else DeltaApplied
        )
        try:
            event = decode(model, record.value)
        except ValidationError as exc:
            await send_dead_letter(self.producer, record, f"invalid {model.__name__} payload: {exc}", SERVICE)
            return
        if isinstance(event, SyncDecision):
            await self.explain.record_decision(event)
        else:
            await self.explain.record_applied(event)
