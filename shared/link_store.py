"""The CRM <-> Exchange links in Redis: the one module that writes and reads them.

A link is kept in both directions: per CRM record a hash mailbox -> Exchange id (`link_by_crm`), and per
Exchange item the string "entity:crm_id" (`link_by_exchange`). Both are always written and removed together,
in the caller's transaction (`queue_link`, `queue_unlink`) so that a side's post-write state (snapshot, echo,
links) is recorded in one step; the readers here are the only place the encoding is known.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared import redis_keys


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def queue_link(pipe: Pipeline, entity: str, crm_id: str, mailbox: str, exchange_id: str) -> None:
    """Queue the pair, in both directions, on the caller's transaction."""
    pipe.hset(redis_keys.link_by_crm(entity, crm_id), mailbox, exchange_id)
    pipe.set(redis_keys.link_by_exchange(mailbox, exchange_id), f"{entity}:{crm_id}")


def queue_unlink(pipe: Pipeline, entity: str, crm_id: str | None, mailbox: str, exchange_id: str) -> None:
    """Queue the removal of one mailbox's link, in both directions, on the caller's transaction."""
    pipe.delete(redis_keys.link_by_exchange(mailbox, exchange_id))
    if crm_id:
        pipe.hdel(redis_keys.link_by_crm(entity, crm_id), mailbox)


class LinkStore:
    """Thin async accessors for the links; no decisions here."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def of_record(self, entity: str, crm_id: str) -> dict[str, str]:
        """Every mailbox holding the record, with its Exchange id there."""
        raw = await self.redis.hgetall(redis_keys.link_by_crm(entity, crm_id))
        return {_text(mailbox): _text(exchange_id) for mailbox, exchange_id in raw.items()}

    async def in_mailbox(self, entity: str, crm_id: str, mailbox: str) -> str | None:
        """The Exchange id of the record's item in one mailbox."""
        raw = await self.redis.hget(redis_keys.link_by_crm(entity, crm_id), mailbox)
        return _text(raw) if raw is not None else None

    async def of_item(self, mailbox: str, exchange_id: str) -> tuple[str, str] | None:
        """The (entity, crm_id) an Exchange item is linked to."""
        raw = await self.redis.get(redis_keys.link_by_exchange(mailbox, exchange_id))
        if raw is None:
            return None
        entity, _, crm_id = _text(raw).partition(":")
        return (entity, crm_id) if crm_id else None

    async def link(self, entity: str, crm_id: str, mailbox: str, exchange_id: str) -> None:
        """Record the pair in both directions, atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            queue_link(pipe, entity, crm_id, mailbox, exchange_id)
            await pipe.execute()

    async def unlink_record(self, entity: str, crm_id: str) -> None:
        """Remove every link of a (deleted) CRM record, in both directions."""
        links = await self.of_record(entity, crm_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for mailbox, exchange_id in links.items():
                pipe.delete(redis_keys.link_by_exchange(mailbox, exchange_id))
            pipe.delete(redis_keys.link_by_crm(entity, crm_id))
            await pipe.execute()
