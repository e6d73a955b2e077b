"""Exchange-side state in Redis: snapshots, echo fingerprints, sync states, and the CRM <-> Exchange links.

exchange_capture reads all of it and writes snapshots and sync states; exchange_applier writes
snapshots, echo fingerprints and links after its own writes, so both share this one encoding
(a hash, one JSON value per field).
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from services.exchange_capture.diff import VERSION, Echo, Snapshot
from shared import redis_keys

ECHO_VERSION = "@version"


def _encode(values: dict[str, Any]) -> dict[Any, Any]:
    return {key: json.dumps(value, sort_keys=True) for key, value in values.items()}


def _decode(raw: dict[Any, Any]) -> dict[str, Any]:
    return {_text(key): json.loads(value) for key, value in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def item_key(mailbox: str, exchange_id: str) -> str:
    return f"{mailbox}:{exchange_id}"


class ExchangeState:
    """Thin async accessors; no decisions here."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def snapshot(self, mailbox: str, exchange_id: str) -> Snapshot | None:
        raw = await self.redis.hgetall(redis_keys.exchange_snapshot(mailbox, exchange_id))
        return _decode(raw) if raw else None

    async def store_snapshot(self, mailbox: str, exchange_id: str, snapshot: Snapshot, replace: bool = True) -> None:
        """Replace the snapshot (capture), or merge written fields into it (applier after an update)."""
        key = redis_keys.exchange_snapshot(mailbox, exchange_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if replace:
                pipe.delete(key)
            if snapshot:
                pipe.hset(key, mapping=_encode(snapshot))
            await pipe.execute()

    async def drop_snapshot(self, mailbox: str, exchange_id: str) -> None:
        await self.redis.delete(redis_keys.exchange_snapshot(mailbox, exchange_id))

    async def echo(self, mailbox: str, exchange_id: str) -> Echo | None:
        raw = await self.redis.hgetall(redis_keys.echo_fingerprint("exchange", item_key(mailbox, exchange_id)))
        if not raw:
            return None
        values = _decode(raw)
        version = values.pop(ECHO_VERSION, None)
        return Echo(str(version) if version is not None else None, values)

    async def cursor(self, mailbox: str, folder: str) -> str | None:
        raw = await self.redis.get(redis_keys.exchange_cursor(mailbox, folder))
        return _text(raw) if raw is not None else None

    async def store_cursor(self, mailbox: str, folder: str, sync_state: str) -> None:
        await self.redis.set(redis_keys.exchange_cursor(mailbox, folder), sync_state)

    async def linked_crm(self, mailbox: str, exchange_id: str) -> tuple[str, str] | None:
        """The (entity, crm_id) an Exchange item is linked to."""
        raw = await self.redis.get(redis_keys.link_by_exchange(mailbox, exchange_id))
        if raw is None:
            return None
        entity, _, crm_id = _text(raw).partition(":")
        return entity, crm_id

    async def linked_exchange(self, entity: str, crm_id: str, mailbox: str) -> str | None:
        raw = await self.redis.hget(redis_keys.link_by_crm(entity, crm_id), mailbox)
        return _text(raw) if raw is not None else None

    async def link(self, entity: str, crm_id: str, mailbox: str, exchange_id: str) -> None:
        """Record the pair in both directions, atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(redis_keys.link_by_crm(entity, crm_id), mailbox, exchange_id)
            pipe.set(redis_keys.link_by_exchange(mailbox, exchange_id), f"{entity}:{crm_id}")
            await pipe.execute()

    async def record_write(
        self,
        mailbox: str,
        exchange_id: str,
        *,
        entity: str,
        crm_id: str | None,
        written: dict[str, Any],
        version: str,
        replace_snapshot: bool,
    ) -> None:
        """After an applier write, atomically: snapshot, echo fingerprint and (when known) both links."""
        snapshot_key = redis_keys.exchange_snapshot(mailbox, exchange_id)
        echo_key = redis_keys.echo_fingerprint("exchange", item_key(mailbox, exchange_id))
        async with self.redis.pipeline(transaction=True) as pipe:
            if replace_snapshot:
                pipe.delete(snapshot_key)
            pipe.hset(snapshot_key, mapping=_encode({**written, VERSION: version}))
            pipe.delete(echo_key)
            pipe.hset(echo_key, mapping=_encode({**written, ECHO_VERSION: version}))
            if crm_id:
                pipe.hset(redis_keys.link_by_crm(entity, crm_id), mailbox, exchange_id)
                pipe.set(redis_keys.link_by_exchange(mailbox, exchange_id), f"{entity}:{crm_id}")
            await pipe.execute()

    async def forget_item(self, mailbox: str, exchange_id: str, entity: str, crm_id: str | None) -> None:
        """After fieldsync deleted an item: no snapshot, echo or links remain (so its delete is not captured)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(redis_keys.exchange_snapshot(mailbox, exchange_id))
            pipe.delete(redis_keys.echo_fingerprint("exchange", item_key(mailbox, exchange_id)))
            pipe.delete(redis_keys.link_by_exchange(mailbox, exchange_id))
            if crm_id:
                pipe.hdel(redis_keys.link_by_crm(entity, crm_id), mailbox)
            await pipe.execute()
