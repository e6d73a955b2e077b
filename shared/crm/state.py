"""CRM-side state in Redis: snapshots of last seen values, echo fingerprints, delta-link cursors.

crm_capture reads and writes all three; crm_applier writes snapshots and echo fingerprints after
its own writes, so both services share this one encoding (shared.item_state: a hash, one JSON value
per field) under the CRM keys: snapshots by (entity, crm_id).
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared import redis_keys
from shared.crm.snapshot import Echo
from shared.item_state import ECHO_ANNOUNCED, ItemState, text


def echo_key(entity: str, crm_id: str) -> str:
    return redis_keys.echo_fingerprint("crm", f"{entity}:{crm_id}")


class CrmState(ItemState[Echo]):
    """Snapshots and echoes by (entity, crm_id), plus each entity's delta link; no decisions here."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis, redis_keys.crm_snapshot, echo_key, Echo, redis_keys.crm_snapshots)

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
