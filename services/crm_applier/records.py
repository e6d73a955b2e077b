"""crm_applier's records in Redis: what it applied per item (for replays); the links are shared.link_store's."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from shared import redis_keys

EVENTS, WRITTEN = "events", "written"


@dataclass(frozen=True)
class Applied:
    """The delta ids applied to one item (bounded, newest last) and the last value written per field."""

    events: list[str] = field(default_factory=list)
    written: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AppliedRecords:
    """Thin async accessors; the decisions are in apply.py."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def applied(self, key: str) -> Applied:
        raw = await self.redis.hgetall(redis_keys.applied_version("crm", key))
        found = {_text(k): json.loads(v) for k, v in raw.items()}
        return Applied(list(found.get(EVENTS, [])), dict(found.get(WRITTEN, {})))

    async def record_applied(self, key: str, applied: Applied) -> None:
        mapping: dict[Any, Any] = {
            EVENTS: json.dumps(applied.events),
            WRITTEN: json.dumps(applied.written, sort_keys=True),
        }
        await self.redis.hset(redis_keys.applied_version("crm", key), mapping=mapping)
