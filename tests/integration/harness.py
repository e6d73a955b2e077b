"""The integration tests' shared harness: topic readers, services run as tasks, groups skipped to a topic's end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

Service = tuple["asyncio.Task[None]", asyncio.Event]


class TopicReader:
    """Reads a topic from its beginning without a group; keeps every record seen, to wait on."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        self.records: list[Any] = []

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def wait_for(
        self, predicate: Callable[[Any], bool], count: int = 1, timeout: float = 15.0, what: str = ""
    ) -> list[Any]:
        """Poll until `count` records match (deadline, no sleeps); returns the matching records. The predicate
        judges one record: each poll tests only the records it brought (a session's topics grow long)."""
        deadline = time.monotonic() + timeout
        matching = self.matching(predicate)
        while len(matching) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout}s: {what or 'records'} (matched {len(matching)})")
            batch = await self.consumer.getmany(timeout_ms=100)
            for records in batch.values():
                self.records.extend(records)
                matching.extend(r for r in records if _holds(predicate, r))
        return matching

    def matching(self, predicate: Callable[[Any], bool]) -> list[Any]:
        return [r for r in self.records if _holds(predicate, r)]


def _holds(predicate: Callable[[Any], bool], record: Any) -> bool:
    """A record that does not even parse as the predicate's model is not a match: the session's broker is shared,
    and other tests put poison records on its topics on purpose (dead-letter tests)."""
    try:
        return predicate(record)
    except ValidationError:
        return False


async def run_service(run: Any, settings: Any) -> Service:
    """Start a service's `run(settings, stop)` as a task; stop it with `await stop_service(...)`."""
    stop = asyncio.Event()
    return asyncio.create_task(run(settings, stop)), stop


async def stop_service(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def skip_to_end(bootstrap: str, group_id: str, topic: str) -> None:
    """Commit the group's offsets at the end of `topic`, so the test's service ignores earlier tests' records."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        metadata = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in metadata.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        # Tansu's ListOffsets "latest" is the first offset of the last batch when that batch holds several records
        # (DESIGN 5): read on until the fetch responses' high watermark, the true end, is reached.
        async def behind() -> bool:
            for tp in tps:
                mark = consumer.highwater(tp)
                if mark is None or await consumer.position(tp) < mark:
                    return True
            return False

        deadline = asyncio.get_running_loop().time() + 10  # an empty partition may never report a watermark
        while await behind() and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(*tps, timeout_ms=200)
        await consumer.commit({tp: await consumer.position(tp) for tp in tps})
    finally:
        await consumer.stop()


def set_faults(urls: Any, **knobs: Any) -> None:
    """Set a sandbox's fault knobs (both sandboxes serve them at `urls.faults_url`); none given: all off."""
    response = httpx.put(urls.faults_url, json=knobs)
    assert response.status_code == 200, response.text
