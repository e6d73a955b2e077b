"""Per-item state in Redis shared by a side's capture and applier: snapshots and echo fingerprints.

Both are hashes with one JSON value per field (sorted keys, so equal values encode equally); the
echo hash also holds the version the write produced under ECHO_VERSION. Each side passes in how its
keys are built and its own Echo type; the diffs that read these values stay in the sides' diff.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from redis.asyncio import Redis

ECHO_VERSION = "@version"

# A side's key builder from an item's identity: its scope (entity or mailbox) and its id there.
KeyBuilder = Callable[[str, str], str]


class Written(Protocol):
    """What fieldsync last wrote to an item: the version its write produced and the field values."""

    @property
    def version(self) -> str | None: ...

    @property
    def values(self) -> dict[str, Any]: ...


EchoT = TypeVar("EchoT", bound=Written)


def encode(values: dict[str, Any]) -> dict[Any, Any]:
    return {key: json.dumps(value, sort_keys=True) for key, value in values.items()}


def decode(raw: dict[Any, Any]) -> dict[str, Any]:
    return {text(key): json.loads(value) for key, value in raw.items()}


def text(value: Any) -> str:
    """A Redis reply (bytes) as a string."""
    return value.decode() if isinstance(value, bytes) else str(value)


class ItemState(Generic[EchoT]):
    """Thin async accessors for one side's snapshots and echo fingerprints; no decisions here."""

    def __init__(
        self,
        redis: Redis,
        snapshot_key: KeyBuilder,
        echo_key: KeyBuilder,
        echo_type: Callable[[str | None, dict[str, Any]], EchoT],
    ) -> None:
        self.redis = redis
        self.snapshot_key, self.echo_key, self.echo_type = snapshot_key, echo_key, echo_type

    async def snapshot(self, scope: str, item_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(self.snapshot_key(scope, item_id))
        return decode(raw) if raw else None

    async def store_snapshot(self, scope: str, item_id: str, snapshot: dict[str, Any], replace: bool = True) -> None:
        """Replace the snapshot (capture), or merge written fields into it (applier after an update)."""
        key = self.snapshot_key(scope, item_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if replace:
                pipe.delete(key)
            if snapshot:
                pipe.hset(key, mapping=encode(snapshot))
            await pipe.execute()

    async def drop_snapshot(self, scope: str, item_id: str) -> None:
        await self.redis.delete(self.snapshot_key(scope, item_id))

    async def echo(self, scope: str, item_id: str) -> EchoT | None:
        raw = await self.redis.hgetall(self.echo_key(scope, item_id))
        if not raw:
            return None
        values = decode(raw)
        version = values.pop(ECHO_VERSION, None)
        return self.echo_type(str(version) if version is not None else None, values)

    async def record_echo(self, scope: str, item_id: str, echo: Written) -> None:
        key = self.echo_key(scope, item_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=encode({**echo.values, ECHO_VERSION: echo.version}))
            await pipe.execute()
