"""Publishes PolicyChanged to the bus after a change is stored, retrying a few times; and dead-letter replays (edge)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from shared import topics
from shared.events import PolicyChanged

log = logging.getLogger(__name__)
KEY = b"policy"


class PolicyPublisher:
    """Owns one aiokafka producer.

    Lifecycle: start() in the app's lifespan; when the broker is down then, the app still starts (the
    policy is durable in Redis) and the producer is started again by the next publish or readiness
    check. publish() is called after the Redis write succeeded; it tries `attempts` times and reports
    False instead of raising, because the change is already durable and the next PolicyChanged carries
    the full policy anyway. stop() in the lifespan's shutdown flushes and closes the producer.
    """

    def __init__(
        self,
        factory: Callable[[], AIOKafkaProducer],
        attempts: int,
        timeout_s: float,
        backoff_s: float,
    ) -> None:
        self._factory = factory
        self._attempts = max(1, attempts)
        self._timeout_s = timeout_s
        self._backoff_s = backoff_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> bool:
        try:
            await self._ensure_started()
        except Exception as exc:
            log.warning("broker unreachable at start, will retry on the next publish: %r", exc)
            return False
        return True

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                await producer.stop()

    async def check(self) -> None:
        """Raise unless the broker answers a metadata request within the timeout."""
        producer = await self._ensure_started()
        await asyncio.wait_for(producer.client.fetch_all_metadata(), self._timeout_s)

    async def publish(self, event: PolicyChanged) -> bool:
        payload = event.model_dump_json().encode("utf-8")
        for attempt in range(1, self._attempts + 1):
            try:
                producer = await self._ensure_started()
                await asyncio.wait_for(
                    producer.send_and_wait(topics.POLICY.full_name, value=payload, key=KEY), self._timeout_s
                )
                return True
            except Exception as exc:
                log.warning(
                    "publishing PolicyChanged version %s failed (attempt %s of %s): %r",
                    event.policy.version, attempt, self._attempts, exc,
                )
                await self._discard()
                if attempt < self._attempts:
                    await asyncio.sleep(self._backoff_s * attempt)  # backoff between transport retries
        log.error(
            "PolicyChanged version %s was not published; it is stored in Redis and the policy service "
            "picks it up when it next re-reads Redis (every few seconds)", event.policy.version,
        )
        return False

    async def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]], partition: int | None
    ) -> None:
        """Publish one record on the same producer (a dead-letter replay) and wait for the ack; raises on failure
        (the caller records nothing then), after discarding the producer so the next call connects afresh.
        `partition` is used while the topic has it (a replay lands where its key's other events are), else the
        key decides."""
        try:
            producer = await self._ensure_started()
            known = await asyncio.wait_for(producer.partitions_for(topic), self._timeout_s)
            chosen = partition if partition is not None and partition in known else None
            await asyncio.wait_for(
                producer.send_and_wait(topic, value=value, key=key, headers=headers, partition=chosen), self._timeout_s
            )
        except Exception:
            await self._discard()
            raise

    async def _ensure_started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = self._factory()
                try:
                    await asyncio.wait_for(producer.start(), self._timeout_s)
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _discard(self) -> None:
        """Drop a producer that failed, so the next attempt connects afresh."""
        try:
            await self.stop()
        except Exception as exc:
            log.warning("closing the failed producer: %r", exc)
