"""The policy store: the sync policy and its audit history in Redis, changed atomically with a version."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator
from redis.asyncio import Redis
from redis.exceptions import WatchError

from shared import redis_keys
from shared.catalogue import Catalogue
from shared.events import (
    CONFLICT_RULES,
    DEFAULT_CONFLICT_RULE,
    DIRECTIONS,
    ConflictRule,
    Direction,
    OrgSettings,
    Policy,
)
from shared.org_settings import NAMES as SETTING_NAMES
from shared.org_settings import differences

SEED_ACTOR = "system"
# Optimistic transactions retry when another writer touched the policy between read and write;
# with an expected_version the retry turns into a VersionConflict instead.
MAX_ATTEMPTS = 50

Directions = dict[str, dict[str, Direction]]
Rules = dict[str, ConflictRule]
Content = tuple[Directions, Rules, OrgSettings]
# The history entries of a setting name this as their entity: the settings are the organisation's.
ORGANISATION = "organisation"


def default_conflict_rules(catalogue: Catalogue) -> Rules:
    """Every catalogue entity with the default rule, as seeded and as a reset leaves it."""
    return {name: DEFAULT_CONFLICT_RULE for name in catalogue.entities}


class DirectionChange(BaseModel):
    """One requested change: set `field` of `entity` to `direction`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    field: str
    direction: Direction


class ConflictRuleChange(BaseModel):
    """One requested change: decide the conflicts of `entity` by `rule`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    rule: ConflictRule


class HistoryEntry(BaseModel):
    """One audited change: which version made it, who, when, what, and the old and new value.

    `kind` "direction": `field` of `entity` moved from direction `old` to `new`; "conflict_rule": the conflict
    rule of `entity` moved from `old` to `new` (no `field`); "setting": the organisation setting `field` (entity
    "organisation") moved from `old` to `new` (booleans). Entries stored before conflict rules existed carry no
    kind and read as direction changes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    actor: str
    at: datetime
    kind: Literal["direction", "conflict_rule", "setting"] = "direction"
    entity: str
    field: str | None = None
    old: bool | Direction | ConflictRule | None
    new: bool | Direction | ConflictRule

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.kind == "setting":
            if self.entity != ORGANISATION or self.field not in SETTING_NAMES or not isinstance(self.new, bool) \
                    or not isinstance(self.old, bool):
                raise ValueError(f"a setting entry needs entity {ORGANISATION!r}, a setting as field, boolean values")
            return self
        direction = self.kind == "direction"
        values: tuple[str, ...] = DIRECTIONS if direction else CONFLICT_RULES
        if (self.field is not None) != direction or self.new not in values or self.old not in (None, *values):
            raise ValueError(
                f"a {self.kind} entry needs {'a' if direction else 'no'} field and values among {', '.join(values)}"
            )
        return self


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


def _with_changes(
    changes: Sequence[DirectionChange], rules: Sequence[ConflictRuleChange], settings: Mapping[str, bool]
) -> Callable[[Policy], Content]:
    def transform(current: Policy) -> Content:
        directions = {entity: dict(fields) for entity, fields in current.directions.items()}
        for change in changes:
            directions.setdefault(change.entity, {})[change.field] = change.direction
        rules_now = {**current.conflict_rules, **{change.entity: change.rule for change in rules}}
        return directions, rules_now, current.settings.model_copy(update=dict(settings))

    return transform


def _entries(current: Policy, new: Policy) -> tuple[HistoryEntry, ...]:
    """One entry per field whose direction differs and per entity whose rule differs (a missing rule is the
    default: filling one in is no change), all stamped with the new version."""

    def stamped(**what: Any) -> HistoryEntry:
        return HistoryEntry(version=new.version, actor=new.updated_by, at=new.updated_at, **what)

    directions = [
        stamped(entity=entity, field=field, old=current.direction(entity, field), new=direction)
        for entity, fields in new.directions.items()
        for field, direction in fields.items()
        if current.direction(entity, field) != direction
    ]
    entities = [*new.conflict_rules, *(e for e in current.conflict_rules if e not in new.conflict_rules)]
    rules = [
        stamped(kind="conflict_rule", entity=e, old=current.conflict_rule(e), new=new.conflict_rule(e))
        for e in entities
        if current.conflict_rule(e) != new.conflict_rule(e)
    ]
    settings = [
        stamped(kind="setting", entity=ORGANISATION, field=name, old=old, new=value)
        for name, old, value in differences(current.settings, new.settings)
    ]
    return (*directions, *rules, *settings)


class PolicyStore:
    """Reads and changes the policy; every change is one new version plus one history entry per field
    direction and per entity conflict rule it changed.

    The store only stores: whether a change is allowed is decided by the caller (admin_api.service).
    A call whose changes leave every direction and rule as it is writes nothing and returns the current
    policy (same version), so repeating a request is harmless.
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
            version=1, updated_at=now, updated_by=SEED_ACTOR, directions=catalogue.default_directions(),
            conflict_rules=default_conflict_rules(catalogue),
        )
        await self._redis.set(redis_keys.POLICY, seed.model_dump_json(), nx=True)
        stored = await self.get()
        if stored is None:  # deleted between the two calls: seed again
            return await self.load_or_seed(catalogue, now)
        return stored

    async def apply(
        self,
        changes: Sequence[DirectionChange],
        actor: str,
        now: datetime,
        expected_version: int | None = None,
        *,
        rules: Sequence[ConflictRuleChange] = (),
        settings: Mapping[str, bool] | None = None,
    ) -> Policy:
        """Apply all direction, rule and setting changes as one new version, or none of them."""
        return (await self.change(changes, actor, now, expected_version, rules=rules, settings=settings)).policy

    async def change(
        self,
        changes: Sequence[DirectionChange],
        actor: str,
        now: datetime,
        expected_version: int | None = None,
        *,
        rules: Sequence[ConflictRuleChange] = (),
        settings: Mapping[str, bool] | None = None,
    ) -> Outcome:
        """Like apply, also telling which history entries (if any) the call appended. `settings`: organisation
        settings to set (validated by the caller, shared.org_settings); the others keep their value."""
        return await self._update(_with_changes(changes, rules, settings or {}), actor, now, expected_version)

    async def reset(
        self, catalogue: Catalogue, actor: str, now: datetime, expected_version: int | None = None
    ) -> Policy:
        """Back to the catalogue defaults (every direction, every rule `latest`) as one new version; the
        organisation settings stay as they are (they are changed on their own, `PUT /api/v1/settings`)."""
        return (await self.restore_defaults(catalogue, actor, now, expected_version)).policy

    async def restore_defaults(
        self, catalogue: Catalogue, actor: str, now: datetime, expected_version: int | None = None
    ) -> Outcome:
        """Like reset, also telling which history entries (if any) the call appended."""
        directions, rules = catalogue.default_directions(), default_conflict_rules(catalogue)
        return await self._update(lambda current: (directions, rules, current.settings), actor, now, expected_version)

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
        self, transform: Callable[[Policy], Content], actor: str, now: datetime, expected_version: int | None
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
                    directions, rules, settings = transform(current)
                    new = Policy(
                        version=current.version + 1, updated_at=now, updated_by=actor, directions=directions,
                        conflict_rules=rules, settings=settings,
                    )
                    entries = _entries(current, new)
                    if not entries:  # leaving the block resets the pipeline, which unwatches
                        return Outcome(policy=current)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(redis_keys.POLICY, new.model_dump_json())
                    pipe.rpush(redis_keys.POLICY_HISTORY, *(entry.model_dump_json() for entry in entries))
                    await pipe.execute()
                    return Outcome(policy=new, entries=entries)
                except WatchError:
                    continue
        raise RuntimeError(f"policy update lost the race {MAX_ATTEMPTS} times in a row")
