"""The security capture's state in Redis: the rows last published per table, delta links, fingerprints, rounds.

Written only after the broker acked a round (and its refreshes), in one transaction, so a crash in between
reads and publishes the same changes again (at least once); keys from shared/redis_keys.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from redis.asyncio import Redis

from services.crm_capture.security_tables import Row, RowChange, TableRead
from shared import redis_keys
from shared.item_state import text


class SecurityStore:
    """Thin async accessors; what changed is decided in security_tables.py."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def rows(self, table: str) -> dict[str, Row]:
        raw = await self.redis.hgetall(redis_keys.capture_security_rows(table))
        return {text(key): json.loads(value) for key, value in raw.items()}

    async def cursor(self, table: str) -> str | None:
        raw = await self.redis.get(redis_keys.security_cursor(table))
        return text(raw) if raw is not None else None

    async def fingerprint(self, table: str) -> str | None:
        raw = await self.redis.get(redis_keys.capture_security_fingerprint(table))
        return text(raw) if raw is not None else None

    async def last_round(self) -> int:
        raw = await self.redis.get(redis_keys.CAPTURE_SECURITY_ROUND)
        return int(raw) if raw is not None else 0

    async def reserve_round(self) -> int:
        """The next round's number, taken before anything of it is published: a round number never names two
        different sets of rows, even when a crash cut a round short and the next attempt publishes it again."""
        return int(await self.redis.incr(redis_keys.CAPTURE_SECURITY_ROUND))

    async def commit(self, reads: Iterable[TableRead], changes: Iterable[RowChange]) -> None:
        """Store the published rows (deleted ones dropped), each table's delta link and fingerprint, atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for change in changes:
                key = redis_keys.capture_security_rows(change.table)
                if change.deleted:
                    pipe.hdel(key, change.principal)
                else:
                    pipe.hset(key, change.principal, json.dumps(change.row, sort_keys=True))
            for read in reads:
                if read.cursor is not None:
                    pipe.set(redis_keys.security_cursor(read.table.name), read.cursor)
                if read.fingerprint is not None:
                    pipe.set(redis_keys.capture_security_fingerprint(read.table.name), read.fingerprint)
            await pipe.execute()
