"""Delivery of deltas to one side: consume in key order, write through the side, publish DeltaApplied, commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from shared import topics
from shared.events import DeltaApplied, ItemDelta
from shared.kafka import decode, encode, send_dead_letter

Report = TypeVar("Report")  # what the side's writer reports for one delta


class Target(Protocol[Report]):
    """One side as delivery sees it; the rules stay in the side's apply.py and writer.py."""

    @property
    def service(self) -> str:
        """The service name dead letters and log lines carry."""
        ...

    @property
    def permanent(self) -> tuple[type[Exception], ...]:
        """The writer's errors that retrying here cannot fix (the delta is dead-lettered)."""
        ...

    def validate(self, delta: ItemDelta) -> str | None:
        """Why the delta cannot be applied at all, or None."""
        ...

    async def write(self, delta: ItemDelta) -> Report:
        """Carry the delta out (conditional and idempotent)."""
        ...

    def applied(
        self, delta: ItemDelta, outcome: Report | None, *, event_id: str, applied_at: datetime, error: str | None
    ) -> DeltaApplied:
        """The DeltaApplied of a written delta, or of a failed one (no outcome, `error` says why)."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


def backoff_delay(failures: int, interval_s: float, cap_s: float) -> float:
    """The wait after the n-th consecutive failure: exponential from `interval_s` (at least 0.1 s), capped."""
    return min(max(interval_s, 0.1) * 2.0 ** min(failures, 20), cap_s)


@dataclass
class DeliveryLoop(Generic[Report]):
    """Applies one deltas topic to its side.

    Lifecycle:
    - start: `run(stop)` is called with the consumer (manual commits, the side's group) and the
      producer started; it resumes from the group's committed offsets.
    - each batch: the records of one partition are handled one after another (key order): parse,
      validate, write (the target: conditional, idempotent), publish DeltaApplied and wait for the
      ack; a delta that is invalid or keeps failing goes to `deadletter` with its error header (and
      a `failed` DeltaApplied). The offset after the last handled record is committed only then.
    - infrastructure failure (Redis, broker): the partition is rewound to the failed record and the
      loop backs off (exponential, capped, logged once per streak); nothing is skipped.
    - shutdown: when `stop` is set the current batch finishes and is committed, then `run` returns;
      main.py stops the consumer and producer and closes the clients.
    """

    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    target: Target[Report]
    backoff_cap_s: float = 30.0
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"fieldsync.{self.target.service}")

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=200)
            errors = [await self._partition(tp, records) for tp, records in batches.items()]
            error = next((e for e in errors if e is not None), None)
            if error is not None:
                failures += 1
                if failures == 1:
                    self.log.warning("%s cannot apply deltas now, backing off and retrying: %r",
                                     self.target.service, error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff_delay(failures, 0.1, self.backoff_cap_s))
            elif failures and batches:
                self.log.info("%s recovered after %d failed attempts", self.target.service, failures)
                failures = 0

    async def _partition(self, tp: TopicPartition, records: list[Any]) -> Exception | None:
        """Handle records in order and commit what was done; the error if one must be tried again later."""
        done: int | None = None
        error: Exception | None = None
        for record in records:
            try:
                await self.handle(record)
            except Exception as exc:  # infrastructure: rewind and try the same record after a backoff
                self.consumer.seek(tp, record.offset)
                error = exc
                break
            done = record.offset
        if done is not None:
            await self.consumer.commit({tp: done + 1})
        return error

    async def handle(self, record: Any) -> None:
        try:
            delta = decode(ItemDelta, record.value)
        except ValidationError as exc:
            await send_dead_letter(self.producer, record, f"invalid ItemDelta payload: {exc}", self.target.service)
            return
        reason = self.target.validate(delta)
        if reason is not None:
            await self._fail(record, delta, f"invalid delta: {reason}")
            return
        try:
            outcome = await self.target.write(delta)
        except self.target.permanent as exc:  # permanent, or transient beyond the writer's bounded retries
            await self._fail(record, delta, f"{type(exc).__name__}: {exc}")
            return
        event = self.target.applied(delta, outcome, event_id=self.new_id(), applied_at=self.clock(), error=None)
        await self.producer.send_and_wait(topics.APPLIED.full_name, encode(event), key=record.key)

    async def _fail(self, record: Any, delta: ItemDelta, error: str) -> None:
        await send_dead_letter(self.producer, record, error, self.target.service)
        event = self.target.applied(delta, None, event_id=self.new_id(), applied_at=self.clock(), error=error)
        await self.producer.send_and_wait(topics.APPLIED.full_name, encode(event), key=record.key)
