"""The change window on a real redis-server: order, the count bound kept at every write, the age bound at read,
what the policy's writer writes read back, an entry another version wrote skipped, and a window of no entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from services.policy.verdict import Facts
from services.policy.window_writer import Recorded, WindowWriter
from shared import redis_keys
from shared.change_window import ChangeWindow, SecurityFacts
from shared.events import ItemChanged, Source

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def recorded(n: int, age_s: float = 0) -> Recorded:
    at = NOW - timedelta(seconds=age_s)
    change = ItemChanged(event_id=f"e{n}", occurred_at=at, captured_at=at, source=Source(system="crm"),
                         entity="contact", op="update", crm_id=f"r{n}", changed={"telephone1": str(n)})  # fmt: skip
    return Recorded(change, Facts(links={"alice@sandbox.local": f"x{n}"}), {}, SecurityFacts(round=1), 3, at)


async def write(window: ChangeWindow, *batches: list[Recorded]) -> None:
    writer = WindowWriter(window)
    for batch in batches:
        for one in batch:
            writer.add(one)
        await writer.flush()


async def test_the_last_n_are_kept_at_every_write_and_read_back_oldest_first(redis: Redis) -> None:
    window = ChangeWindow(redis, max_entries=3, max_age_s=3600)
    await write(window, [recorded(1), recorded(2)], [recorded(3), recorded(4)])
    assert await window.size() == 3
    entries = await window.read(NOW)
    assert [e.change.event_id for e in entries] == ["e2", "e3", "e4"]
    assert entries[0].facts.links == {"alice@sandbox.local": "x2"} and entries[0].policy_version == 3


async def test_older_than_the_hours_is_not_read_and_a_foreign_entry_is_skipped(redis: Redis) -> None:
    window = ChangeWindow(redis, max_entries=10, max_age_s=60)
    await write(window, [recorded(1, age_s=120), recorded(2, age_s=30)])
    await redis.lpush(redis_keys.CHANGE_WINDOW, '{"written": "by another version"}')
    assert [e.change.event_id for e in await window.read(NOW)] == ["e2"]


async def test_a_window_of_no_entries_writes_and_reads_nothing(redis: Redis) -> None:
    window = ChangeWindow(redis, max_entries=0)
    await write(window, [recorded(1)])
    assert await window.size() == 0 and await window.read(NOW) == []
