"""CRM-side state in Redis: snapshots of last seen values, echo fingerprints, delta-link cursors.

crm_capture reads and writes all three; crm_applier writes snapshots and echo fingerprints after
its own writes, so both services share this one encoding (a hash, one JSON value per field).
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from services.crm_capture.diff import Echo, Snapshot
from shared import redis_keys

ECHO_VERSION = "@version"


def _encode(values: dict[str, Any]) -> dict[Any, Any]:
    return {key: json.dumps(value, sort_keys=True) for key, value in values.items()}


def _decode(raw: dict[Any, Any]) -> dict[str, Any]:
    return {_text(key): json.loads(value) for key, value in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def item_key(entity: str, crm_id: str) -> str:
    return f"{entity}:{crm_id}"


class CrmState:
    """Thin async accessors; no decisions here."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def snapshot(self, entity: str, crm_id: str) -> Snapshot | None:
        raw = await self.redis.hgetall(redis_keys.crm_snapshot(entity, crm_id))
        return _decode(raw) if raw else None

    async def store_snapshot(self, entity: str, crm_id: str, snapshot: Snapshot, replace: bool = True) -> None:
        """Replace the snapshot (capture), or merge written fields into it (applier after an update)."""
        key = redis_keys.crm_snapshot(entity, crm_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if replace:
                pipe.delete(key)
            if snapshot:
                pipe.hset(key, mapping=_encode(snapshot))
            await pipe.execute()

    async def drop_snapshot(self, entity: str, crm_id: str) -> None:
        await self.redis.delete(redis_keys.crm_snapshot(entity, crm_id))

    async def echo(self, entity: str, crm_id: str) -> Echo | None:
        raw = await self.redis.hgetall(redis_keys.echo_fingerprint("crm", item_key(entity, crm_id)))
        if not raw:
            return None
        values = _decode(raw)
        version = values.pop(ECHO_VERSION, None)
        return Echo(str(version) if version is not None else None, values)

    async def record_echo(self, entity: str, crm_id: str, echo: Echo) -> None:
        key = redis_keys.echo_fingerprint("crm", item_key(entity, crm_id))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=_encode({**echo.values, ECHO_VERSION: echo.version}))
            await pipe.execute()

    async def cursor(self, entity: str) -> str | None:
        raw = await self.redis.get(redis_keys.crm_cursor(entity))
        return _text(raw) if raw is not None else None

    async def store_cursor(self, entity: str, delta_link: str) -> None:
        await self.redis.set(redis_keys.crm_cursor(entity), delta_link)
