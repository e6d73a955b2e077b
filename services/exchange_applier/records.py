"""exchange_applier's record in Redis of the deltas it applied per item (so a replay changes nothing)."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from shared import redis_keys

EVENTS = "events"


class AppliedRecords:
    """Thin async accessors; the decisions are in apply.py."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def applied_events(self, key: str) -> list[str]:
        raw: Any = await self.redis.hget(redis_keys.applied_version("exchange", key), EVENTS)
        return list(json.loads(raw)) if raw else []

    async def record_applied(self, key: str, events: list[str]) -> None:
        await self.redis.hset(redis_keys.applied_version("exchange", key), EVENTS, json.dumps(events))
