"""The policy store contract on a real redis-server: seeding, atomic versioned changes, history, reset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from shared import redis_keys
from shared.catalogue import load_catalogue
from shared.policy_store import DirectionChange, PolicyNotSeeded, PolicyStore, VersionConflict

pytestmark = pytest.mark.integration

CATALOGUE = load_catalogue()
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def phone(direction: str) -> DirectionChange:
    return DirectionChange.model_validate({"entity": "contact", "field": "telephone1", "direction": direction})


async def test_concurrent_seeding_stores_one_version_1(redis: Redis) -> None:
    stores = [PolicyStore(redis) for _ in range(5)]
    seeded = await asyncio.gather(
        *(store.load_or_seed(CATALOGUE, T0 + timedelta(seconds=i)) for i, store in enumerate(stores))
    )
    assert len({p.model_dump_json() for p in seeded}) == 1
    assert seeded[0].version == 1 and seeded[0].directions == CATALOGUE.default_directions()
    assert await stores[0].history(0, 10) == ([], 0)
    await stores[0].apply([phone("none")], "a", T0)
    assert (await stores[1].load_or_seed(CATALOGUE, T0)).version == 2  # never re-seeds over a policy


async def test_apply_before_seeding_is_refused(redis: Redis) -> None:
    store = PolicyStore(redis)
    assert await store.get() is None
    with pytest.raises(PolicyNotSeeded):
        await store.apply([phone("none")], "a", T0)


async def test_apply_bumps_one_version_and_audits_each_field(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    task = DirectionChange(entity="task", field="subject", direction="to_crm")
    policy = await store.apply([phone("to_exchange"), task], "alice", T0 + timedelta(minutes=1))
    assert (policy.version, policy.updated_by, policy.updated_at) == (2, "alice", T0 + timedelta(minutes=1))
    assert await store.get() == policy
    entries, total = await store.history(0, 10)
    assert total == 2
    assert {(e.version, e.actor, e.entity, e.field, e.old, e.new) for e in entries} == {
        (2, "alice", "contact", "telephone1", "both", "to_exchange"),
        (2, "alice", "task", "subject", "both", "to_crm"),
    }
    unchanged = await store.change([phone("to_exchange")], "bob", T0)
    assert not unchanged.changed and unchanged.policy == policy
    assert (await store.history(0, 10))[1] == 2


async def test_stale_expected_version_changes_nothing(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    await store.apply([phone("none")], "a", T0, expected_version=1)
    with pytest.raises(VersionConflict) as caught:
        await store.apply([phone("to_crm")], "b", T0, expected_version=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    policy = await store.get()
    assert policy is not None and policy.version == 2 and policy.direction("contact", "telephone1") == "none"
    assert (await store.history(0, 10))[1] == 1


async def test_concurrent_writers_without_expected_version_all_land(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    fields = ["telephone1", "telephone2", "mobilephone", "jobtitle", "nickname", "pager"]
    writers = [PolicyStore(redis) for _ in fields]
    await asyncio.gather(*(
        writer.apply([DirectionChange(entity="contact", field=f, direction="none")], f"w{i}", T0)
        for i, (writer, f) in enumerate(zip(writers, fields, strict=True))
    ))
    policy = await store.get()
    assert policy is not None and policy.version == 1 + len(fields)
    assert all(policy.direction("contact", f) == "none" for f in fields)
    entries, total = await store.history(0, 100)
    assert total == len(fields) and sorted(e.version for e in entries) == list(range(2, 2 + len(fields)))


async def test_history_pages_newest_first(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    for direction in ("none", "to_crm", "to_exchange", "both", "none"):
        await store.apply([phone(direction)], "a", T0)
    pages = [await store.history(offset, 2) for offset in (0, 2, 4, 6)]
    assert [[e.version for e in page] for page, _ in pages] == [[6, 5], [4, 3], [2], []]
    assert {total for _, total in pages} == {5}
    with pytest.raises(ValueError):
        await store.history(0, 0)


async def test_reset_restores_defaults_as_one_version(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    await store.apply([phone("none"), DirectionChange(entity="fax", field="subject", direction="to_crm")], "a", T0)
    outcome = await store.restore_defaults(CATALOGUE, "admin", T0 + timedelta(hours=1))
    assert outcome.policy.version == 3 and outcome.policy.directions == CATALOGUE.default_directions()
    assert {(e.entity, e.field, e.old, e.new) for e in outcome.entries} == {
        ("contact", "telephone1", "none", "both"), ("fax", "subject", "to_crm", "both"),
    }
    assert (await store.reset(CATALOGUE, "admin", T0)).version == 3  # already defaults: no new version
    assert await redis.llen(redis_keys.POLICY_HISTORY) == 4
