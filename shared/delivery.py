"""Delivery of deltas to one side: consume, write keys concurrently in key order, publish DeltaApplied, commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared import topics
from shared.events import DeltaApplied, ItemDelta
from shared.failures import describe, is_transient, retry_after
from shared.kafka import decode, encode, send_dead_letter
from shared.lanes import commit_offset, lanes
from shared.metrics import Metrics, failure_status
from shared.pacing import backoff_delay

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

    @property
    def transient(self) -> tuple[type[Exception], ...]:
        """The writer's errors that say the side is down for now (they may subclass a permanent one): the
        delta is retried after the loop's backoff until the side is back, never dead-lettered for them."""
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


Position = tuple[str, int, int]  # (topic, partition, offset): one record, across rewinds and backoffs


@dataclass
class _Lane:
    """What one key's lane of a batch left behind: DeltaApplied acks by offset, and where it stopped."""

    acks: list[tuple[int, asyncio.Future[Any]]] = field(default_factory=list)
    stopped_at: int | None = None  # the offset of the record that failed, or the first not attempted
    error: Exception | None = None


@dataclass
class DeliveryLoop(Generic[Report]):
    """Applies one deltas topic to its side.

    Lifecycle:
    - start: `run(stop)` is called with the consumer (manual commits, the side's group) and the
      producer started; it resumes from the group's committed offsets.
    - each batch: per partition, the records are split into lanes by key (shared.lanes); lanes run
      concurrently, at most `concurrency` deltas in work at once across the batch, and each lane handles
      its records one after another (per-key order): parse, validate, write (the target: conditional,
      idempotent), publish DeltaApplied; a delta that is invalid or that the target refuses for good
      (its `permanent` errors) goes to `deadletter` with its error headers (and a `failed` DeltaApplied).
      When every lane is done and the broker acked their DeltaApplied events, the partition is committed
      up to the first record not done.
    - a failed record: that lane stops, the other lanes start nothing beyond it, the partition is
      rewound to it and the loop backs off (exponential, capped, at least Retry-After, logged once per
      streak). A transient failure (an outage: shared.failures) is retried like that forever; nothing is
      skipped. Any other failure is deterministic: the record's attempts are counted by (topic,
      partition, offset), and on the `max_attempts`-th it is dead-lettered with the exception's type and
      traceback summary (and a `failed` DeltaApplied), and its lane goes on with the next record: a
      poison delta never stalls the partition. Records of other keys already applied past a rewind are
      replayed and found applied (idempotent: `duplicate`). A seek or commit the broker refuses
      (rebalance, outage) is a transient failure too: the batch is rewound and committed again.
    - shutdown: when `stop` is set the current batch finishes and is committed, then `run` returns;
      main.py stops the consumer and producer and closes the clients.
    """

    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    target: Target[Report]
    backoff_cap_s: float = 30.0
    concurrency: int = 16
    max_attempts: int = 3
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    attempts: dict[Position, int] = field(default_factory=dict)  # deterministic failures per record
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def side(self) -> str:
        """The target system's name in metric labels: crm_applier -> crm."""
        return self.target.service.removesuffix("_applier")

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"fieldsync.{self.target.service}")

    async def run(self, stop: asyncio.Event) -> None:
        gate = asyncio.Semaphore(max(1, self.concurrency))
        failures = 0
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=200)
            errors = await asyncio.gather(*(self._partition(tp, records, gate) for tp, records in batches.items()))
            error = next((e for e in errors if e is not None), None)
            if error is not None:
                failures += 1
                self.metrics.retried(self.side, failure_status(error))
                if failures == 1:
                    self.log.warning("%s cannot apply deltas now, backing off and retrying: %r",
                                     self.target.service, error)
                delay = backoff_delay(failures, 0.1, self.backoff_cap_s, retry_after(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            elif failures and batches:
                self.log.info("%s recovered after %d failed attempts", self.target.service, failures)
                failures = 0

    async def _partition(self, tp: TopicPartition, records: list[Any], gate: asyncio.Semaphore) -> Exception | None:
        """Handle the lanes, wait for the acks, commit what was done; the error if one must be tried again."""
        halted: list[int] = []  # offsets where a lane failed: no lane starts a record beyond the first
        done = await asyncio.gather(*(self._lane(lane, gate, halted) for lane in lanes(records, _key)))
        unfinished = [lane.stopped_at for lane in done if lane.stopped_at is not None]
        error = next((lane.error for lane in done if lane.error is not None), None)
        for lane in done:
            for offset, ack in lane.acks:
                try:
                    await ack
                except Exception as exc:  # the broker did not take the DeltaApplied: do that record again
                    unfinished.append(offset)
                    error = error or exc
        try:
            if unfinished:
                self.consumer.seek(tp, min(unfinished))
            upto = commit_offset([r.offset for r in records], unfinished)
            if upto is not None:
                await self.consumer.commit({tp: upto})
        except KafkaError as exc:  # rebalance or broker outage: back off, not exit
            # Rewind to the batch so its commit is tried again; the replay is idempotent (`duplicate`).
            # If the partition went to another member, the seek is refused too: the new owner resumes
            # from the last committed offset, so there is nothing to rewind here.
            with contextlib.suppress(KafkaError):
                self.consumer.seek(tp, min([records[0].offset, *unfinished]))
            return error or exc
        return error

    async def _lane(self, records: list[Any], gate: asyncio.Semaphore, halted: list[int]) -> _Lane:
        lane = _Lane()
        for record in records:
            if halted and record.offset > min(halted):
                lane.stopped_at = record.offset
                break
            try:
                async with gate:
                    try:
                        ack = await self.handle(record)
                    except Exception as exc:
                        ack = await self._poisoned(record, exc)  # raises again while it may still succeed
                lane.acks.append((record.offset, ack))
            except Exception as exc:  # rewind and try the same record after a backoff
                halted.append(record.offset)
                lane.stopped_at, lane.error = record.offset, exc
                break
            self.attempts.pop(_position(record), None)
        return lane

    async def handle(self, record: Any) -> asyncio.Future[Any]:
        """Apply one record; returns the broker's ack of its DeltaApplied (awaited before the commit)."""
        self.metrics.consumed(record.topic)
        try:
            delta = decode(ItemDelta, record.value)
        except ValidationError as exc:
            await send_dead_letter(self.producer, record, f"invalid ItemDelta payload: {exc}", self.target.service)
            self.metrics.dead_lettered(self.target.service, "invalid_payload")
            return _done()
        reason = self.target.validate(delta)
        if reason is not None:
            return await self._fail(record, delta, f"invalid delta: {reason}", why="invalid_delta")
        try:
            outcome = await self.target.write(delta)
        except self.target.permanent as exc:
            if self._transient(exc):  # an outage outlasting the writer's short retries
                raise  # rewind and back off like any infrastructure failure: the side will be back
            return await self._fail(record, delta, describe(exc), exc, why="refused")
        event = self.target.applied(delta, outcome, event_id=self.new_id(), applied_at=self.clock(), error=None)
        ack: asyncio.Future[Any] = await self.producer.send(topics.APPLIED.full_name, encode(event), key=record.key)
        self._count(event)
        return ack

    def _count(self, event: DeltaApplied) -> None:
        """The write's result, its apply hop (decided to applied) and, for a write that changed the target, the
        end-to-end latency from the source's modification time."""
        self.metrics.wrote(self.side, event.result)
        self.metrics.produced(topics.APPLIED.full_name)
        self.metrics.hop("apply", (event.applied_at - event.decided_at).total_seconds())
        if event.result in ("applied", "conflict_resolved", "superseded"):
            self.metrics.synced(f"to_{self.side}", event.entity, (event.applied_at - event.occurred_at).total_seconds())

    async def _poisoned(self, record: Any, exc: Exception) -> asyncio.Future[Any]:
        """A record that failed: raise again (rewind) if it is an outage or may yet succeed; dead-letter it
        on its `max_attempts`-th deterministic failure."""
        if self._transient(exc):
            raise exc
        position = _position(record)
        count = self.attempts[position] = self.attempts.get(position, 0) + 1
        if count < self.max_attempts:
            raise exc
        self.log.error("%s gives up on %s[%d]@%d after %d attempts, dead-lettering it: %s", self.target.service,
                       record.topic, record.partition, record.offset, count, describe(exc))
        reason = f"failed {count} times the same way: {describe(exc)}"
        return await self._fail(record, decode(ItemDelta, record.value), reason, exc, why="repeated_failure")

    def _transient(self, exc: Exception) -> bool:
        return isinstance(exc, self.target.transient) or is_transient(exc)

    async def _fail(
        self, record: Any, delta: ItemDelta, error: str, exc: Exception | None = None, *, why: str
    ) -> asyncio.Future[Any]:
        """Dead-letter the record (`why`: the bounded reason label of the dead-letter metric) and say it failed."""
        await send_dead_letter(self.producer, record, error, self.target.service, exc)
        self.metrics.dead_lettered(self.target.service, why)
        event = self.target.applied(delta, None, event_id=self.new_id(), applied_at=self.clock(), error=error)
        await self.producer.send_and_wait(topics.APPLIED.full_name, encode(event), key=record.key)
        self.metrics.wrote(self.side, "failed")
        self.metrics.produced(topics.APPLIED.full_name)
        return _done()


def _key(record: Any) -> Any:
    return record.key


def _position(record: Any) -> Position:
    return record.topic, record.partition, record.offset


def _done() -> asyncio.Future[Any]:
    ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    ack.set_result(None)
    return ack
