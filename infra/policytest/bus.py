"""What the sync-time test watches on its isolated stack's bus: every DeltaApplied and every dead letter.

Lifecycle: `start()` launches a consumer outside any group (it reads every partition from the earliest offset,
commits nothing, and leaves the pipeline's own groups alone) in a task that appends events as they arrive;
`stop()` ends it. `since(moment)` gives what a phase made happen.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from shared import topics
from shared.events import DeltaApplied
from shared.kafka import ERROR_HEADER, decode, make_consumer
from shared.settings import KafkaSettings


@dataclass
class AppliedWatch:
    settings: KafkaSettings
    applied: list[DeltaApplied] = field(default_factory=list)
    dead_letters: list[tuple[datetime, str]] = field(default_factory=list)  # (seen at, reason)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        consumer = make_consumer(self.settings, topics.APPLIED.full_name, topics.DEADLETTER.full_name, group_id=None)
        await consumer.start()
        self._task = asyncio.create_task(self._run(consumer), name="policytest-applied-watch")

    async def _run(self, consumer: object) -> None:
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)  # type: ignore[attr-defined]
                for tp, records in batches.items():
                    for record in records:
                        self._take(tp.topic, record)
        finally:
            await consumer.stop()  # type: ignore[attr-defined]

    def _take(self, topic: str, record: object) -> None:
        if topic == topics.DEADLETTER.full_name:
            headers = dict(getattr(record, "headers", None) or [])
            reason = headers.get(ERROR_HEADER, b"").decode(errors="replace")[:120]
            self.dead_letters.append((datetime.now(UTC), f"dead letter: {reason}"))
            return
        with contextlib.suppress(ValidationError):
            self.applied.append(decode(DeltaApplied, getattr(record, "value", None)))

    def since(self, moment: datetime) -> list[DeltaApplied]:
        return [event for event in self.applied if event.applied_at >= moment]

    def failures_since(self, moment: datetime) -> list[str]:
        failed = [f"{e.target} {e.entity} delta failed: {e.error}" for e in self.since(moment) if e.result == "failed"]
        return failed + [reason for seen, reason in self.dead_letters if seen >= moment]

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=10)
