"""crm_applier's records in Redis: what it applied per item (for replays) and the CRM <-> Exchange links."""

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

    async def linked_crm_id(self, entity: str, mailbox: str, exchange_id: str) -> str | None:
        """The CRM id an Exchange item is linked to (the link value is "entity:crm_id")."""
        raw = await self.redis.get(redis_keys.link_by_exchange(mailbox, exchange_id))
        if raw is None:
            return None
        linked_entity, _, crm_id = _text(raw).partition(":")
        return crm_id if linked_entity == entity and crm_id else None

    async def link(self, entity: str, crm_id: str, mailbox: str, exchange_id: str) -> None:
        """Record the pair in both directions, atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(redis_keys.link_by_crm(entity, crm_id), mailbox, exchange_id)
            pipe.set(redis_keys.link_by_exchange(mailbox, exchange_id), f"{entity}:{crm_id}")
            await pipe.execute()

    async def unlink_all(self, entity: str, crm_id: str) -> None:
        """Remove every link of a deleted CRM record (both directions)."""
        key = redis_keys.link_by_crm(entity, crm_id)
        links = await self.redis.hgetall(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            for mailbox, exchange_id in links.items():
                pipe.delete(redis_keys.link_by_exchange(_text(mailbox), _text(exchange_id)))
            pipe.delete(key)
            await pipe.execute()
