"""Watches the bus for the benchmark: every DeltaApplied on `applied` and every record on `deadletter`.

Lifecycle: `run()` starts a consumer in a group of its own (so it sees every partition from the
earliest offset, the warm-up included and the pipeline's own groups untouched), appends each event as
it arrives and stops when `close()` is called; nothing is committed. Topics named in `keep` (the changes,
the decisions) are read too and their events kept as JSON, for a post-mortem.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared import topics
from shared.events import DeltaApplied
from shared.kafka import ERROR_HEADER, SERVICE_HEADER, decode, make_consumer
from shared.settings import KafkaSettings


@dataclass
class BusObserver:
    settings: KafkaSettings
    applied: list[DeltaApplied] = field(default_factory=list)
    dead_letters: int = 0
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    keep: tuple[str, ...] = ()  # full topic names whose events are kept as they are
    kept: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = make_consumer(
            self.settings, topics.APPLIED.full_name, topics.DEADLETTER.full_name, *self.keep,
            group_id=f"fieldsync-bench-{uuid.uuid4().hex[:8]}",
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        self._take(tp.topic, record)
        finally:
            await consumer.stop()

    def _take(self, topic: str, record: object) -> None:
        if topic in self.keep:
            with contextlib.suppress(TypeError, ValueError):
                self.kept.setdefault(topic, []).append(json.loads(getattr(record, "value", None) or b""))
            return
        if topic == topics.DEADLETTER.full_name:
            self.dead_letters += 1
            headers = dict(getattr(record, "headers", None) or [])
            service = headers.get(SERVICE_HEADER, b"?").decode(errors="replace")
            reason = headers.get(ERROR_HEADER, b"").decode(errors="replace")[:80]
            self.dead_letter_reasons[f"{service}: {reason}"] += 1
            return
        try:
            self.applied.append(decode(DeltaApplied, getattr(record, "value", None)))
        except ValidationError:
            self.unreadable += 1

    def close(self) -> None:
        self._stop.set()


async def observing(observer: BusObserver) -> asyncio.Task[None]:
    """Start the observer as a task; the caller closes it and awaits the task."""
    task = asyncio.create_task(observer.run())
    await asyncio.sleep(0)
    return task


async def stop_observing(observer: BusObserver, task: asyncio.Task[None]) -> None:
    observer.close()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
