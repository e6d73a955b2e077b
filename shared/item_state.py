"""Per-item state in Redis shared by a side's capture and applier: snapshots and echo fingerprints.

Both are hashes with one JSON value per field (sorted keys, so equal values encode equally); the
echo hash also holds the version the write produced under ECHO_VERSION. Each side passes in how its
keys are built and its own Echo type; the diffs that read these values stay in the sides' diff.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from redis.asyncio import Redis

ECHO_VERSION = "@version"  # also the snapshot's version field (both sides' diff.VERSION)
# The item's modification time an applier read just before its write: the time of the changes made before it.
ECHO_BEFORE = "@before"
# The values of the write an applier is about to make (its version not known yet), kept beside the record of its
# last recorded write: a capture reading the item in between recognises either (one did replace the other, and
# the capture then took fieldsync's previous write for a person's change).
ECHO_ANNOUNCED = "@announced"
# Beside the announced values: a field written in several steps (an item's files, one attachment at a time) and
# the values it passes through on the way, each fieldsync's own (shared.attachments.steps).
ANNOUNCED_STEPS = "@steps"

# KEYS: snapshot hash, echo hash. ARGV: version field, the version the capture diffed against ("" = there
# was no snapshot), then field, value, ... of what it read. Unmoved: replace. Moved by an applier's write
# that the echo names: lay the read under it (the fields the applier wrote keep its values). Else: keep.
_STORE_READ = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (ARGV[2] == '' and not current) or (ARGV[2] ~= '' and current == ARGV[2]) then
  redis.call('DEL', KEYS[1])
  if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
  return 1
end
if not current or redis.call('HGET', KEYS[2], ARGV[1]) ~= current then
  return 0
end
for i = 3, #ARGV, 2 do
  if ARGV[i] ~= ARGV[1] and redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 2
"""

# A side's key builder from an item's identity: its scope (entity or mailbox) and its id there.
KeyBuilder = Callable[[str, str], str]


class Written(Protocol):
    """What fieldsync last wrote to an item: the version its write produced, the field values, and the item's
    modification time it read before writing (None: written unread, against the version last seen)."""

    @property
    def version(self) -> str | None: ...

    @property
    def values(self) -> dict[str, Any]: ...

    @property
    def before(self) -> str | None: ...

    @property
    def announced(self) -> dict[str, Any]: ...


EchoT = TypeVar("EchoT", bound=Written)


@dataclass(frozen=True)
class Echo:
    """What fieldsync last wrote to an item or row: the version (ChangeKey, versionnumber) its write produced and
    the values written; both twins record it the same way."""

    version: str | None
    values: dict[str, Any] = field(default_factory=dict)
    # The item's modification time the applier read before writing: the changes the capture finds under this
    # write were made by then (the item's own time is fieldsync's write, which must not make them look later).
    before: str | None = None
    # The values of the write the applier is about to make (version unknown), beside the record above.
    announced: dict[str, Any] = field(default_factory=dict)


def holds(echo: Written, key: str, value: Any, version: str | None) -> bool:
    """`value` of `key` is what fieldsync wrote at `version` (or wrote unread, not recorded yet), or is about to
    write: the capture of either side drops such a field as fieldsync's own (pure)."""
    own = echo.version is None or echo.version == version
    return (
        (own and key in echo.values and echo.values[key] == value)
        or (key in echo.announced and echo.announced[key] == value)
        or value in (echo.announced.get(ANNOUNCED_STEPS) or {}).get(key, ())
    )


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
        echo_type: Callable[[str | None, dict[str, Any], str | None, dict[str, Any]], EchoT],
        snapshot_pattern: Callable[[str], str],
    ) -> None:
        self.redis = redis
        self.snapshot_key, self.echo_key, self.echo_type = snapshot_key, echo_key, echo_type
        self.snapshot_pattern = snapshot_pattern
        self._store_read = redis.register_script(_STORE_READ)

    async def known_ids(self, scope: str) -> set[str]:
        """The ids of every item of `scope` with a snapshot (SCAN over the scope's key pattern, never KEYS)."""
        ids: set[str] = set()
        async for key in self.redis.scan_iter(match=self.snapshot_pattern(scope), count=1000):
            ids.add(text(key).rsplit(":", 1)[1])
        return ids

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

    async def store_read_snapshot(
        self, scope: str, item_id: str, snapshot: dict[str, Any], seen: dict[str, Any] | None
    ) -> int:
        """Store what a capture read, diffed against `seen`, without undoing an applier's write in between.

        The capture reads, publishes, waits for the acks, then stores: an applier may record its own
        write (a newer version) meanwhile. Replacing that with the older read made the applier's next
        plan take its own earlier write for a change made in that side (a spurious conflict that kept
        the old value and dropped the other side's newer one). So: unchanged since `seen`, replace (1);
        moved by the write the echo records, keep the applier's fields and version and take the read's
        other fields (2); moved otherwise, keep it (0). One atomic script.
        """
        expected = "" if seen is None else json.dumps(seen.get(ECHO_VERSION), sort_keys=True)
        values = [part for pair in encode(snapshot).items() for part in pair]
        keys = [self.snapshot_key(scope, item_id), self.echo_key(scope, item_id)]
        return int(await self._store_read(keys=keys, args=[ECHO_VERSION, expected, *values]))

    async def drop_snapshot(self, scope: str, item_id: str) -> None:
        await self.redis.delete(self.snapshot_key(scope, item_id))

    async def echo(self, scope: str, item_id: str) -> EchoT | None:
        raw = await self.redis.hgetall(self.echo_key(scope, item_id))
        if not raw:
            return None
        values = decode(raw)
        version = values.pop(ECHO_VERSION, None)
        before = values.pop(ECHO_BEFORE, None)
        announced = values.pop(ECHO_ANNOUNCED, None) or {}
        return self.echo_type(str(version) if version is not None else None, values, before, announced)

    async def announce(self, scope: str, item_id: str, values: dict[str, Any]) -> None:
        """Before an applier's write: the values it is about to write, beside the record of its last one."""
        await self.redis.hset(self.echo_key(scope, item_id), mapping=encode({ECHO_ANNOUNCED: values}))

    async def record_echo(
        self, scope: str, item_id: str, echo: Written, snapshot: dict[str, Any] | None = None
    ) -> None:
        """After an applier's write: the write's record replaces the last one and the announcement, and (given)
        the written fields are merged into the snapshot in the same transaction, so a capture never sees one
        without the other."""
        key = self.echo_key(scope, item_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=encode({**echo.values, ECHO_VERSION: echo.version, ECHO_BEFORE: echo.before}))
            if snapshot:
                pipe.hset(self.snapshot_key(scope, item_id), mapping=encode(snapshot))
            await pipe.execute()
