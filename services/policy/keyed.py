"""Keyed steps: changes of different pairs decided at once, one pair's changes in order, acks in offset order.

The merge point needs the changes of one pair decided one after another (both captures key a pair's changes
alike, shared.links), not every change of the worker: a step waits mostly on Redis and the broker's acks, so a
worker deciding one change at a time leaves the pipeline idle between round trips. KeyedSteps runs up to `limit`
steps at once, each after the previous step of its key, and hands each event to `ack` only when it and every
earlier event of its partition are done (the consumer commits offsets as given; an ack past an unfinished
event would let a crash skip it).

Lifecycle: `submit` waits for a free slot (backpressure on the stream), starts the step and returns; `drain`
waits for every step started. A step that returns False (the worker is stopping) is not acked, nor is any later
event of its partition, nor does a later step of its key run: the next owner of the partition replays them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

E = TypeVar("E")
Step = Callable[[], Awaitable[bool]]


class KeyedSteps(Generic[E]):
    def __init__(self, limit: int, ack: Callable[[E], Awaitable[object]]) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._ack = ack
        self._tails: dict[Hashable, asyncio.Task[bool]] = {}
        # Per partition (a bounded set: the worker's assignment): events in offset order, and the ack turn.
        self._queues: dict[Hashable, deque[tuple[E, asyncio.Task[bool]]]] = {}
        self._acking: dict[Hashable, asyncio.Lock] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.stopped = False

    async def submit(self, key: Hashable, partition: Hashable, event: E, step: Step) -> None:
        await self._slots.acquire()
        previous = self._tails.get(key)
        task = asyncio.create_task(self._after(previous, step))
        self._tails[key] = task
        self._queues.setdefault(partition, deque()).append((event, task))
        done = asyncio.create_task(self._finish(key, partition, task))
        self._running.add(done)
        done.add_done_callback(self._running.discard)

    async def drain(self) -> None:
        """Wait until every step submitted so far has finished and its ack (if any) was given."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def _after(self, previous: asyncio.Task[bool] | None, step: Step) -> bool:
        if previous is not None and not await asyncio.shield(previous):
            return False  # the key's earlier step was cut short: this one must not overtake it
        if self.stopped:
            return False
        return await step()

    async def _finish(self, key: Hashable, partition: Hashable, task: asyncio.Task[bool]) -> None:
        try:
            ok = await task
        except Exception:
            ok = False
        finally:
            self._slots.release()
            if self._tails.get(key) is task:
                del self._tails[key]
        if not ok:
            self.stopped = True
        lock = self._acking.setdefault(partition, asyncio.Lock())
        async with lock:  # acks of one partition leave in offset order, one at a time
            queue = self._queues[partition]
            while queue and queue[0][1].done() and not self.stopped:
                event, head = queue[0]
                if head.cancelled() or head.exception() is not None or not head.result():
                    self.stopped = True
                    break
                queue.popleft()
                await self._ack(event)
