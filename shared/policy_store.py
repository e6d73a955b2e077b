"""The policy store: the sync policy and its audit history in Redis, changed atomically with a version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis
from redis.exceptions import WatchError

from shared import redis_keys
from shared.catalogue import Catalogue
from shared.events import Direction, Policy

SEED_ACTOR = "system"
# Optimistic transactions retry when another writer touched the policy between read and write;
# with an expected_version the retry turns into a VersionConflict instead.
MAX_ATTEMPTS = 50

Directions = dict[str, dict[str, Direction]]


class DirectionChange(BaseModel):
    """One requested change: set `field` of `entity` to `direction`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    field: str
    direction: Direction


class HistoryEntry(BaseModel):
    """One audited field change: which version made it, who, when, and the old and new direction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    actor: str
    at: datetime
    entity: str
    field: str
    old: Direction | None
    new: Direction


class Outcome(BaseModel):
    """What one apply/reset did: the policy after it, and the history entries it appended (none: no-op)."""

    model_config = ConfigDict(frozen=True)

    policy: Policy
    entries: tuple[HistoryEntry, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.entries)


class VersionConflict(Exception):
    """The caller's expected_version is not the stored version: the change was refused, nothing moved."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"policy version is {actual}, not the expected {expected}; reload and retry")
        self.expected = expected
        self.actual = actual


class PolicyNotSeeded(Exception):
    """apply/reset was called before load_or_seed stored a first policy."""


def _with_changes(changes: list[DirectionChange]) -> Callable[[Directions], Directions]:
    def transform(current: Directions) -> Directions:
        updated = {entity: dict(fields) for entity, fields in current.items()}
        for change in changes:
            updated.setdefault(change.entity, {})[change.field] = change.direction
        return updated

    return transform


def _diff(old: Directions, new: Directions) -> list[tuple[str, str, Direction | None, Direction]]:
    return [
        (entity, field, old.get(entity, {}).get(field), direction)
        for entity, fields in new.items()
        for field, direction in fields.items()
        if old.get(entity, {}).get(field) != direction
    ]


class PolicyStore:
    """Reads and changes the policy; every change is one new version plus one history entry per field.

    The store only stores: whether a change is allowed is decided by the caller (admin_api.service).
    A call whose changes leave every direction as it is writes nothing and returns the current policy
    (same version), so repeating a request is harmless.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def ping(self) -> None:
        """Raise unless Redis answers (readiness probes)."""
        await self._redis.ping()

    async def get(self) -> Policy | None:
        raw = await self._redis.get(redis_keys.POLICY)
        return None if raw is None else Policy.model_validate_json(raw)

    async def load_or_seed(self, catalogue: Catalogue, now: datetime) -> Policy:
        """The stored policy, or version 1 with the catalogue defaults; SET NX makes seeding race-free."""
        seed = Policy(
            version=1, updated_at=now, updated_by=SEED_ACTOR, directions=catalogue.default_directions()
        )
        await self._redis.set(redis_keys.POLICY, seed.model_dump_json(), nx=True)
        stored = await self.get()
        if stored is None:  # deleted between the two calls: seed again
            return await self.load_or_seed(catalogue, now)
        return stored

    async def apply(
        self,
        changes: list[DirectionChange],
        actor: str,
        now: datetime,
        expected_version: int | None = None,
    ) -> Policy:
        """Apply all changes as one new version, or none of them."""
        return (await self.change(changes, actor, now, expected_version)).policy

    async def change(
        self,
        changes: list[DirectionChange],
        actor: str,
        now: datetime,
        expected_version: int | None = None,
    ) -> Outcome:
        """Like apply, also telling which history entries (if any) the call appended."""
        return await self._update(_with_changes(changes), actor, now, expected_version)

    async def reset(
        self, catalogue: Catalogue, actor: str, now: datetime, expected_version: int | None = None
    ) -> Policy:
        """Back to the catalogue defaults as one new version."""
        return (await self.restore_defaults(catalogue, actor, now, expected_version)).policy

    async def restore_defaults(
        self, catalogue: Catalogue, actor: str, now: datetime, expected_version: int | None = None
    ) -> Outcome:
        """Like reset, also telling which history entries (if any) the call appended."""
        defaults = catalogue.default_directions()
        return await self._update(lambda _current: defaults, actor, now, expected_version)

    async def history(self, offset: int, limit: int) -> tuple[list[HistoryEntry], int]:
        """One page of the history, newest first, and the total number of entries."""
        if offset < 0 or limit <= 0:
            raise ValueError("offset must be >= 0 and limit > 0")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.llen(redis_keys.POLICY_HISTORY)
            # Stored oldest first: the newest page is at the tail, counted from the end (Redis clamps
            # a start before the head to the head, and returns nothing past it).
            pipe.lrange(redis_keys.POLICY_HISTORY, -(offset + limit), -(offset + 1))
            total, raw = await pipe.execute()
        entries = [HistoryEntry.model_validate_json(item) for item in reversed(raw)]
        return entries, int(total)

    async def _update(
        self,
        transform: Callable[[Directions], Directions],
        actor: str,
        now: datetime,
        expected_version: int | None,
    ) -> Outcome:
        for _attempt in range(MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(redis_keys.POLICY)
                    raw = await pipe.get(redis_keys.POLICY)
                    if raw is None:
                        raise PolicyNotSeeded("no policy stored yet: call load_or_seed first")
                    current = Policy.model_validate_json(raw)
                    if expected_version is not None and expected_version != current.version:
                        raise VersionConflict(expected_version, current.version)
                    directions = transform(current.directions)
                    changed = _diff(current.directions, directions)
                    if not changed:  # leaving the block resets the pipeline, which unwatches
                        return Outcome(policy=current)
                    new = Policy(
                        version=current.version + 1, updated_at=now, updated_by=actor, directions=directions
                    )
                    entries = tuple(
                        HistoryEntry(version=new.version, actor=actor, at=now, entity=e, field=f, old=o, new=n)
                        for e, f, o, n in changed
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(redis_keys.POLICY, new.model_dump_json())
                    pipe.rpush(redis_keys.POLICY_HISTORY, *(entry.model_dump_json() for entry in entries))
                    await pipe.execute()
                    return Outcome(policy=new, entries=entries)
                except WatchError:
                    continue
        raise RuntimeError(f"policy update lost the race {MAX_ATTEMPTS} times in a row")

