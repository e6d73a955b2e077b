"""The security store contract on a real redis-server: the security state's suite (the same test functions as
against the fake store), and what the store itself leaves in Redis: rows by table as JSON, no staged rows after a
round, the round."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.policy.security_state import SecurityState
from services.policy.security_store import SecurityStore
from shared import redis_keys
from tests.security_rows import everyone_admin
from tests.unit.policy.test_policy_security_state import (
    test_a_deleted_row_goes,
    test_a_refresh_waits_for_its_round,
    test_a_replayed_older_round_is_skipped,
    test_a_round_another_worker_stored_is_followed,
    test_nothing_is_known_before_a_first_complete_round,
)

pytestmark = pytest.mark.integration
__all__ = [
    "test_a_deleted_row_goes", "test_a_refresh_waits_for_its_round", "test_a_replayed_older_round_is_skipped",
    "test_a_round_another_worker_stored_is_followed", "test_nothing_is_known_before_a_first_complete_round",
]  # fmt: skip


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis: Redis) -> SecurityStore:
    return SecurityStore(redis)


async def test_a_round_is_stored_whole_and_loads_back(redis: Redis, store: SecurityStore) -> None:
    org = everyone_admin("alice", "bob")
    events = org.events(7)
    security = SecurityState(store)
    for event in events[:-1]:
        await security.on_event(event)
    assert await store.stored_round() == 0 and await redis.hlen(redis_keys.SECURITY_PENDING) == len(events) - 1
    await security.on_event(events[-1])
    assert await store.stored_round() == 7 and not await redis.exists(redis_keys.SECURITY_PENDING)
    users = await redis.hgetall(redis_keys.security_rows("systemusers"))
    assert {json.loads(v)["internalemailaddress"] for v in users.values()} == {"alice@sandbox.local",
                                                                                "bob@sandbox.local"}  # fmt: skip
    tables, round_ = await store.load()
    assert round_ == 7 and tables.rows["systemusers"] == {k.lower(): v for k, v in org.rows["systemusers"].items()}
