"""CRM-side state in Redis: snapshots of last seen values, echo fingerprints, delta-link cursors.

crm_capture reads and writes all three; crm_applier writes snapshots, echo fingerprints and links after
its own writes (`record_write`, one transaction, as the Exchange twin's), so both services share this one
encoding (shared.item_state: a hash, one JSON value per field) under the CRM keys: snapshots by (entity, crm_id).
The links are shared.link_store's; this module only queues them in its transaction.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from shared import redis_keys
from shared.crm.snapshot import Echo
from shared.item_state import ECHO_ANNOUNCED, ECHO_BEFORE, ECHO_VERSION, ItemState, encode, text
from shared.link_store import LinkStore, queue_link


def echo_key(entity: str, crm_id: str) -> str:
    return redis_keys.echo_fingerprint("crm", f"{entity}:{crm_id}")


class CrmState(ItemState[Echo]):
    """Snapshots and echoes by (entity, crm_id), plus each entity's delta link; no decisions here."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis, redis_keys.crm_snapshot, echo_key, Echo, redis_keys.crm_snapshots)
        self.links = LinkStore(redis)

    async def cursor(self, entity: str) -> str | None:
        raw = await self.redis.get(redis_keys.crm_cursor(entity))
        return text(raw) if raw is not None else None

    async def store_cursor(self, entity: str, delta_link: str) -> None:
        await self.redis.set(redis_keys.crm_cursor(entity), delta_link)

    async def restore_echo(self, entity: str, crm_id: str, echo: Echo | None) -> None:
        """Put back the echo an applier replaced before a write CRM then refused (None: there was none)."""
        if echo is None:
            await self.redis.delete(self.echo_key(entity, crm_id))
            return
        await self.record_echo(entity, crm_id, echo)
        if echo.announced:
            await self.announce(entity, crm_id, echo.announced)

    async def withdraw_announcement(self, entity: str, crm_id: str) -> None:
        """An announced write CRM refused: the record of the last write stays, the announcement goes."""
        await self.redis.hdel(self.echo_key(entity, crm_id), ECHO_ANNOUNCED)

    async def record_write(
        self,
        entity: str,
        crm_id: str,
        echo: Echo | None,
        snapshot: dict[str, Any] | None,
        *,
        replace_snapshot: bool = False,
        link: tuple[str, str] | None = None,
    ) -> None:
        """After an applier write, atomically: the echo (replacing the last one and the announcement), the
        snapshot (merged, or replaced for a create: the whole new row) and the link to the mailbox item
        (mailbox, exchange_id), so a capture never sees one without the others."""
        echo_key, snapshot_key = self.echo_key(entity, crm_id), self.snapshot_key(entity, crm_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if echo is not None:
                pipe.delete(echo_key)
                pipe.hset(echo_key, mapping=encode({**echo.values, ECHO_VERSION: echo.version,
                                                    ECHO_BEFORE: echo.before}))
            if replace_snapshot:
                pipe.delete(snapshot_key)
            if snapshot:
                pipe.hset(snapshot_key, mapping=encode(snapshot))
            if link is not None:
                queue_link(pipe, entity, crm_id, *link)
            await pipe.execute()
