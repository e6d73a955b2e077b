"""The conflict log contract on a real redis-server: idempotency, order, filters, pages, both retention bounds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from shared import redis_keys
from shared.conflict_log import ConflictLog
from shared.events import ConflictRecord

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = 86_400.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Clock:
    """A clock the test moves by hand (the log measures retention against it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def conflict(n: int, *, entity: str = "contact", crm_id: str = "c1", mailbox: str = "alice@sandbox.local",
             at: datetime | None = None, **extra: Any) -> ConflictRecord:
    decided = at or T0 + timedelta(seconds=n)
    return ConflictRecord(
        conflict_id=f"conflict-{n}", decided_at=decided, entity=entity, crm_id=crm_id, mailbox=mailbox,
        exchange_id=f"x-{crm_id}", field="telephone1", crm_value=f"crm {n}", exchange_value=f"ews {n}",
        crm_modified_at=decided - timedelta(seconds=2), exchange_modified_at=decided - timedelta(seconds=1),
        rule="latest", winner="exchange", policy_version=3, causation_id=f"event-{n}", **extra,
    )


def ids(records: list[ConflictRecord]) -> list[str]:
    return [r.conflict_id for r in records]


def log(redis: Redis, clock: Clock, max_entries: int = 1000, retention_s: float = 30 * DAY) -> ConflictLog:
    return ConflictLog(redis, max_entries, retention_s, clock=clock)


async def test_a_replay_records_a_conflict_once_and_keeps_the_first_recording(redis: Redis) -> None:
    conflicts = log(redis, Clock(T0 + timedelta(hours=1)))
    first = conflict(1)
    await conflicts.record([first, conflict(2)])
    replay = first.model_copy(update={"decided_at": T0 + timedelta(minutes=5), "winner": "crm"})
    await conflicts.record([replay])
    await conflicts.record([first, first])
    records, total = await conflicts.query()
    assert total == 2 and ids(records) == ["conflict-2", "conflict-1"]
    assert records[1] == first
    assert await redis.zcard(redis_keys.CONFLICTS_BY_TIME) == 2
    assert await redis.zcard(redis_keys.conflicts_by_item("c1")) == 2


async def test_queue_joins_the_callers_transaction(redis: Redis) -> None:
    conflicts = log(redis, Clock(T0 + timedelta(hours=1)))
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.watch("fs:test:merge-state")
        pipe.multi()
        pipe.set("fs:test:merge-state", "agreed")
        conflicts.queue(pipe, [conflict(1), conflict(2)])
        await pipe.execute()
    assert await redis.get("fs:test:merge-state") == b"agreed"
    assert (await conflicts.query())[1] == 2
    async with redis.pipeline(transaction=True) as pipe:  # nothing is sent before execute
        conflicts.queue(pipe, [conflict(3)])
        assert (await conflicts.query())[1] == 2
        await pipe.reset()
    assert (await conflicts.query())[1] == 2
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.watch("fs:test:merge-state")
        with pytest.raises(RuntimeError, match="multi"):
            conflicts.queue(pipe, [conflict(4)])
    conflicts.queue(redis.pipeline(transaction=True), [])  # nothing to record: nothing queued


async def test_newest_first_with_filters_and_since(redis: Redis) -> None:
    conflicts = log(redis, Clock(T0 + timedelta(hours=1)))
    await conflicts.record([
        conflict(1, crm_id="c1", mailbox="alice@sandbox.local"),
        conflict(2, crm_id="c2", mailbox="bob@sandbox.local"),
        conflict(3, crm_id="c1", mailbox="bob@sandbox.local"),
        conflict(4, entity="task", crm_id="t1", mailbox="alice@sandbox.local"),
        conflict(5, entity="appointment", crm_id="a1", mailbox="bob@sandbox.local"),
    ])
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({}, [5, 4, 3, 2, 1]),
        ({"entity": "contact"}, [3, 2, 1]),
        ({"crm_id": "c1"}, [3, 1]),
        ({"mailbox": "bob@sandbox.local"}, [5, 3, 2]),
        ({"mailbox": "Bob@Sandbox.LOCAL"}, [5, 3, 2]),  # an address compares case-insensitively
        ({"entity": "contact", "mailbox": "bob@sandbox.local"}, [3, 2]),
        ({"crm_id": "c1", "mailbox": "alice@sandbox.local"}, [1]),
        ({"entity": "task", "crm_id": "c1"}, []),
        ({"entity": "lead"}, []),
        ({"since": T0 + timedelta(seconds=3)}, [5, 4, 3]),  # inclusive
        ({"since": datetime(2025, 3, 1, 12, 0, 4)}, [5, 4]),  # naive: UTC
        ({"since": T0 + timedelta(seconds=2), "entity": "contact"}, [3, 2]),
        ({"since": T0 + timedelta(days=1)}, []),
    ]
    for filters, expected in cases:
        records, total = await conflicts.query(**filters)
        assert (ids(records), total) == ([f"conflict-{n}" for n in expected], len(expected)), filters


async def test_pages_and_the_total(redis: Redis) -> None:
    conflicts = log(redis, Clock(T0 + timedelta(hours=1)))
    await conflicts.record([conflict(n, mailbox="alice@sandbox.local" if n % 2 else "bob@sandbox.local")
                            for n in range(1, 8)])
    pages = [await conflicts.query(offset=offset, limit=3) for offset in (0, 3, 6, 9)]
    assert [ids(page) for page, _ in pages] == [
        ["conflict-7", "conflict-6", "conflict-5"], ["conflict-4", "conflict-3", "conflict-2"], ["conflict-1"], [],
    ]
    assert {total for _, total in pages} == {7}
    filtered = [await conflicts.query(mailbox="alice@sandbox.local", offset=offset, limit=2) for offset in (0, 2, 4)]
    assert [ids(page) for page, _ in filtered] == [["conflict-7", "conflict-5"], ["conflict-3", "conflict-1"], []]
    assert {total for _, total in filtered} == {4}
    for offset, limit in ((-1, 10), (0, 0)):
        with pytest.raises(ValueError):
            await conflicts.query(offset=offset, limit=limit)


async def test_the_oldest_go_beyond_max_entries_from_every_index(redis: Redis) -> None:
    conflicts = log(redis, Clock(T0 + timedelta(hours=1)), max_entries=3)
    await conflicts.record([conflict(1, crm_id="c1"), conflict(2, crm_id="c2")])
    await conflicts.record([conflict(5, crm_id="c5"), conflict(3, crm_id="c3"), conflict(4, crm_id="c4")])
    records, total = await conflicts.query()
    assert (ids(records), total) == (["conflict-5", "conflict-4", "conflict-3"], 3)
    assert await conflicts.query(crm_id="c1") == ([], 0)
    assert await redis.hlen(redis_keys.CONFLICT_RECORDS) == 3
    assert await redis.hlen(redis_keys.CONFLICT_INDEX_KEYS) == 3
    assert not await redis.exists(redis_keys.conflicts_by_item("c1"), redis_keys.conflicts_by_item("c2"))
    assert await redis.zcard(redis_keys.conflicts_by_entity("contact")) == 3
    await conflicts.record([conflict(1, crm_id="c1")])  # a replay of an evicted, older conflict stays out
    assert ids((await conflicts.query())[0]) == ["conflict-5", "conflict-4", "conflict-3"]


async def test_entries_older_than_retention_are_hidden_then_removed(redis: Redis) -> None:
    clock = Clock(T0 + timedelta(days=1))
    conflicts = log(redis, clock, retention_s=2 * DAY)
    await conflicts.record([conflict(1, at=T0), conflict(2, at=T0 + timedelta(days=1), crm_id="c2")])
    assert (await conflicts.query())[1] == 2
    clock.now = T0 + timedelta(days=2, hours=1)  # conflict-1 is now older than two days
    records, total = await conflicts.query()
    assert (ids(records), total) == (["conflict-2"], 1)
    assert await conflicts.query(crm_id="c1", since=T0 - timedelta(days=9)) == ([], 0)
    assert await redis.hexists(redis_keys.CONFLICT_RECORDS, "conflict-1")  # hidden, not yet removed
    await conflicts.record([conflict(3, at=clock.now)])
    assert not await redis.hexists(redis_keys.CONFLICT_RECORDS, "conflict-1")
    assert await redis.zcard(redis_keys.conflicts_by_item("c1")) == 1
    assert await redis.hlen(redis_keys.CONFLICT_INDEX_KEYS) == 2
    await conflicts.record([conflict(1, at=T0)])  # a late replay of an expired conflict is not kept
    assert ids((await conflicts.query())[0]) == ["conflict-3", "conflict-2"]


async def test_the_script_survives_a_flushed_script_cache(redis: Redis) -> None:
    conflicts = log(redis, Clock(T0 + timedelta(hours=1)), max_entries=1)
    await conflicts.record([conflict(1)])
    await redis.script_flush()
    await conflicts.record([conflict(2)])
    assert ids((await conflicts.query())[0]) == ["conflict-2"]


def test_bounds_must_be_positive() -> None:
    for max_entries, retention_s in ((0, DAY), (10, 0.0)):
        with pytest.raises(ValueError):
            ConflictLog(Redis(), max_entries, retention_s)
