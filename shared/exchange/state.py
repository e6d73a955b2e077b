"""Exchange-side state in Redis: snapshots, echo fingerprints, sync states, and the CRM <-> Exchange links.

exchange_capture reads all of it and writes snapshots and sync states; exchange_applier writes
snapshots, echo fingerprints and links after its own writes, so both share this one encoding
(shared.item_state: a hash, one JSON value per field) under the Exchange keys: items by (mailbox, exchange_id).
The links are shared.link_store's; this module only queues them in its transactions.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from shared import redis_keys
from shared.exchange.snapshot import EXACT, VERSION, Echo
from shared.item_state import ECHO_BEFORE, ECHO_VERSION, ItemState, encode, text
from shared.link_store import LinkStore, queue_link, queue_unlink

CREATING_TTL_S = 86_400


def echo_key(mailbox: str, exchange_id: str) -> str:
    return redis_keys.echo_fingerprint("exchange", f"{mailbox}:{exchange_id}")


class ExchangeState(ItemState[Echo]):
    """Snapshots and echoes by (mailbox, exchange_id), sync states and links; no decisions here."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis, redis_keys.exchange_snapshot, echo_key, Echo, redis_keys.exchange_snapshots)
        self.links = LinkStore(redis)

    async def cursor(self, mailbox: str, folder: str) -> str | None:
        raw = await self.redis.get(redis_keys.exchange_cursor(mailbox, folder))
        return text(raw) if raw is not None else None

    async def store_cursor(self, mailbox: str, folder: str, sync_state: str) -> None:
        await self.redis.set(redis_keys.exchange_cursor(mailbox, folder), sync_state)

    async def linked_crm(self, mailbox: str, exchange_id: str) -> tuple[str, str] | None:
        """The (entity, crm_id) an Exchange item is linked to."""
        return await self.links.of_item(mailbox, exchange_id)

    async def linked_exchange(self, entity: str, crm_id: str, mailbox: str) -> str | None:
        return await self.links.in_mailbox(entity, crm_id, mailbox)

    async def link(self, entity: str, crm_id: str, mailbox: str, exchange_id: str) -> None:
        await self.links.link(entity, crm_id, mailbox, exchange_id)

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
        exact: bool = False,
        before: str | None = None,
        created: str | None = None,
    ) -> None:
        """After an applier write, atomically: snapshot, echo fingerprint and (when known) both links.

        `exact`: the write was conditional on the snapshot's own ChangeKey, so the snapshot plus `written` is
        the whole item at `version`, which the snapshot then says (EXACT; the capture need not read the item:
        diff.known_version). Otherwise the item may hold changes the capture has not seen yet: the version
        moves (store_read_snapshot relies on it) but EXACT does not, so the capture reads the item; `before`
        is the item's modification time as read before the write, the time those unseen changes were made by.
        `created`: the creation marker of the item this write created; its pending mark goes in the same step."""
        snapshot = self.snapshot_key(mailbox, exchange_id)
        echo = self.echo_key(mailbox, exchange_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if replace_snapshot:
                pipe.delete(snapshot)
            pipe.hset(snapshot, mapping=encode({**written, VERSION: version, **({EXACT: version} if exact else {})}))
            pipe.delete(echo)
            pipe.hset(echo, mapping=encode({**written, ECHO_VERSION: version, ECHO_BEFORE: before}))
            if crm_id:
                queue_link(pipe, entity, crm_id, mailbox, exchange_id)
            if created:
                pipe.delete(redis_keys.exchange_creating(mailbox, created))
            await pipe.execute()

    async def announce_create(self, mailbox: str, marker: str) -> None:
        """Before the exchange_applier creates an item with this marker (kept a day at most, should it never
        record the item: a replay adopts the item and records it)."""
        await self.redis.set(redis_keys.exchange_creating(mailbox, marker), "1", ex=CREATING_TTL_S)

    async def is_creating(self, mailbox: str, marker: str) -> bool:
        return bool(await self.redis.exists(redis_keys.exchange_creating(mailbox, marker)))

    async def forget_item(self, mailbox: str, exchange_id: str, entity: str, crm_id: str | None) -> None:
        """After fieldsync deleted an item: no snapshot, echo or links remain (so its delete is not captured)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.snapshot_key(mailbox, exchange_id))
            pipe.delete(self.echo_key(mailbox, exchange_id))
            queue_unlink(pipe, entity, crm_id, mailbox, exchange_id)
            await pipe.execute()
