"""The one home of the security tables in Redis: rows by table, the round being received, the last complete round.

Edge: thin async accessors, no rules. A round's rows are staged as they arrive (each event can then be acked at
once, and a restart mid-round resumes from the staged ones); its last event moves them into the tables and sets
the round, in one transaction, so Redis always holds the tables as of a complete round. Only the worker that owns
the crm.security partition writes; every worker reads.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from services.policy.security_model import TABLES, Tables
from shared import redis_keys
from shared.events import SecurityChanged
from shared.item_state import text

_SEPARATOR = "\n"  # between table and primary key in a staged row's name (neither holds a newline)


class SecurityStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def stored_round(self) -> int:
        raw = await self.redis.get(redis_keys.SECURITY_ROUND)
        return int(raw) if raw is not None else 0

    async def stage(self, event: SecurityChanged) -> None:
        name = f"{event.table}{_SEPARATOR}{event.principal.lower()}"
        staged = json.dumps({"row": event.row, "deleted": event.deleted}, sort_keys=True)
        await self.redis.hset(redis_keys.SECURITY_PENDING, name, staged)

    async def complete(self, tables: Tables, round_: int) -> Tables:
        """Move the staged rows into the tables (and into `tables`, returned) and record `round_` as complete."""
        staged = await self.redis.hgetall(redis_keys.SECURITY_PENDING)
        changes: list[tuple[str, str, dict[str, Any], bool]] = []
        async with self.redis.pipeline(transaction=True) as pipe:
            for raw_name, raw in staged.items():
                table, principal = text(raw_name).split(_SEPARATOR, 1)
                entry: dict[str, Any] = json.loads(raw)
                changes.append((table, principal, entry["row"], bool(entry["deleted"])))
                if entry["deleted"]:
                    pipe.hdel(redis_keys.security_rows(table), principal)
                else:
                    pipe.hset(redis_keys.security_rows(table), principal, json.dumps(entry["row"], sort_keys=True))
            pipe.delete(redis_keys.SECURITY_PENDING)
            pipe.set(redis_keys.SECURITY_ROUND, round_)
            await pipe.execute()
        return tables.apply_all(changes)

    async def load(self) -> tuple[Tables, int]:
        """The tables as of the last complete round, and that round (0: none yet)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(redis_keys.SECURITY_ROUND)
            for table in TABLES:
                pipe.hgetall(redis_keys.security_rows(table))
            raw_round, *raws = await pipe.execute()
        rows = {
            table: {text(k): json.loads(v) for k, v in raw.items()} for table, raw in zip(TABLES, raws, strict=True)
        }
        return Tables(rows), int(raw_round) if raw_round is not None else 0
