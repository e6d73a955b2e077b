"""The applier loop: consume deltas.exchange in key order, write to mailboxes, publish DeltaApplied, then commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from services.exchange_applier.apply import applied_event, validate
from services.exchange_applier.writer import ExchangeWriter
from shared import topics
from shared.clients.exchange import ExchangeError
from shared.events import ItemDelta
from shared.kafka import decode, encode, send_dead_letter

SERVICE = "exchange_applier"
log = logging.getLogger("fieldsync.exchange_applier")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApplierLoop:
    """Applies deltas.exchange to mailboxes through EWS.

    Lifecycle:
    - start: `run(stop)` is called with the consumer (manual commits, group `exchange_applier_group_id`)
      and the producer started; it resumes from the group's committed offsets.
    - each batch: the records of one partition are handled one after another (key order): parse,
      validate, write (writer.py: conditional on the ChangeKey, idempotent), publish DeltaApplied and
      wait for the ack; a delta that is invalid or keeps failing goes to `deadletter` with its error
      header (and a `failed` DeltaApplied). The offset after the last handled record is committed then.
    - infrastructure failure (Redis, broker): the partition is rewound to the failed record and the
      loop backs off (exponential, capped, logged once per streak); nothing is skipped.
    - shutdown: when `stop` is set the current batch finishes and is committed, then `run` returns;
      main.py stops the consumer and producer and closes the clients.
    """

    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    writer: ExchangeWriter
    backoff_cap_s: float = 30.0
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=200)
            errors = [await self._partition(tp, records) for tp, records in batches.items()]
            error = next((e for e in errors if e is not None), None)
            if error is not None:
                failures += 1
                if failures == 1:
                    log.warning("exchange_applier cannot apply deltas now, backing off and retrying: %r", error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(0.1 * 2 ** min(failures, 20), self.backoff_cap_s))
            elif failures and batches:
                log.info("exchange_applier recovered after %d failed attempts", failures)
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
            await send_dead_letter(self.producer, record, f"invalid ItemDelta payload: {exc}", SERVICE)
            return
        reason = validate(delta)
        if reason is not None:
            await self._fail(record, delta, f"invalid delta: {reason}")
            return
        try:
            outcome = await self.writer.apply(delta)
        except ExchangeError as exc:  # permanent, or transient beyond the bounded retries
            await self._fail(record, delta, f"{type(exc).__name__}: {exc}")
            return
        event = applied_event(
            delta,
            event_id=self.new_id(),
            result=outcome.result,
            applied_at=self.clock(),
            exchange_id=outcome.exchange_id,
            written=outcome.written,
            written_version=outcome.version,
            error=f"conflicts kept Exchange values: {outcome.conflicts}" if outcome.conflicts else outcome.note,
        )
        await self.producer.send_and_wait(topics.APPLIED.full_name, encode(event), key=record.key)

    async def _fail(self, record: Any, delta: ItemDelta, error: str) -> None:
        await send_dead_letter(self.producer, record, error, SERVICE)
        event = applied_event(
            delta, event_id=self.new_id(), result="failed", applied_at=self.clock(), exchange_id=None, error=error
        )
        await self.producer.send_and_wait(topics.APPLIED.full_name, encode(event), key=record.key)
