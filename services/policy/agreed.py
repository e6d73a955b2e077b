"""The one home of the merge point's state in Redis: per linked pair, per field, the last agreed value.

A hash per pair (redis_keys.agreed), one JSON value per field: {"agreed", "at", "side", "held"}. Only the
policy service reads and writes it. Writes are queued into the caller's transaction, so a change's new state,
its conflict records and whatever else it settles are stored together, after its events were published.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from services.policy.merge import FieldState
from services.policy.reconcile import Pair
from shared import redis_keys
from shared.item_state import text


def encode(state: FieldState) -> str:
    return json.dumps(
        {"agreed": state.agreed, "at": state.at.isoformat(), "side": state.side, "held": dict(state.held)},
        sort_keys=True,
    )


def decode(raw: Any) -> FieldState | None:
    try:
        data = json.loads(raw)
        return FieldState(data["agreed"], datetime.fromisoformat(data["at"]), data["side"], dict(data["held"]))
    except (TypeError, ValueError, KeyError):
        return None  # not a state this version wrote: as if nothing were agreed for that field


class AgreedValues:
    """Thin async accessors; the rules are in merge.py and reconcile.py."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def load(self, pairs: Iterable[Pair]) -> dict[Pair, dict[str, FieldState]]:
        pairs = list(dict.fromkeys(pairs))
        if not pairs:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for pair in pairs:
                pipe.hgetall(redis_keys.agreed(*pair))
            raws = await pipe.execute()
        loaded: dict[Pair, dict[str, FieldState]] = {}
        for pair, raw in zip(pairs, raws, strict=True):
            fields = {text(k): decode(v) for k, v in raw.items()}
            loaded[pair] = {k: v for k, v in fields.items() if v is not None}
        return loaded

    def queue(
        self,
        pipe: Pipeline,
        updates: Mapping[Pair, Mapping[str, FieldState] | None],
        fresh: Iterable[Pair] = (),
        forgotten: Mapping[Pair, Iterable[str]] | None = None,
    ) -> None:
        """Queue the new state of each pair's changed fields (None: the pair ended, its state goes; a `fresh`
        pair starts over; `forgotten` fields lose their state)."""
        fresh = set(fresh)
        for pair, keys in (forgotten or {}).items():
            if keys:
                pipe.hdel(redis_keys.agreed(*pair), *keys)
        for pair, fields in updates.items():
            key = redis_keys.agreed(*pair)
            if fields is None or pair in fresh:
                pipe.delete(key)
            if fields is None:
                pipe.delete(key)
            if fields:
                pipe.hset(key, mapping={k: encode(v) for k, v in fields.items()})
