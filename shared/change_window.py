"""The change window: the policy's last decided changes with the facts each was decided on, bounded, in Redis.

The policy service records every person's change it decides (services/policy/window_writer.py, in batches), so
that a candidate policy can be replayed against real recent traffic (the preview, issue 12) and a sync-time test
can shape its traffic like it. An entry holds the ItemChanged and everything the pure rules
read beyond it: links, the last known values of both sides, untracked marks, the merge point's agreed values of the
pairs it touched, and the security answers it was decided under (asked of the tables of one round). Rules still to
come (sync filters) add their facts under `DecisionFacts.extra`, so an older window stays readable.

Redis: one list (redis_keys.CHANGE_WINDOW), newest first, trimmed to the last `max_entries` on every write; what is
older than `max_age_s` is skipped when read (the window is the last N changes or the last H hours, whichever holds
fewer). Entries are JSON; one this version cannot read is skipped, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared import redis_keys
from shared.events import Frozen, ItemChanged, Reason, System

DEFAULT_MAX_ENTRIES = 5000
DEFAULT_MAX_AGE_S = 24 * 3600.0


class RecordedVerdict(Frozen):
    """One answer of the security tables: may `user` `verb` the record (owned by `owner`), and why not."""

    user: str
    entity: str
    crm_id: str | None = None
    owner: str | None = None
    verb: str
    allowed: bool
    reason: Reason | None = None
    detail: str | None = None


class RecordedFieldRights(Frozen):
    """Which field pairs of `entity` the user may not read, update or create (key -> the sentence why)."""

    user: str
    entity: str
    unreadable: dict[str, str] = Field(default_factory=dict)
    unupdatable: dict[str, str] = Field(default_factory=dict)
    uncreatable: dict[str, str] = Field(default_factory=dict)


class SecurityFacts(Frozen):
    """The security answers one decision asked for, under the tables of `round` (0: decided with security off)."""

    round: int = 0
    users: dict[str, str | None] = Field(default_factory=dict)  # mailbox as asked -> its CRM user (None: nobody's)
    records: tuple[RecordedVerdict, ...] = ()
    fields: tuple[RecordedFieldRights, ...] = ()


class AgreedField(Frozen):
    """The merge point's state of one field of a linked pair: the last agreed value, who set it, what each holds."""

    agreed: Any = None
    at: datetime
    side: System
    held: dict[str, Any] = Field(default_factory=dict)


class AgreedPair(Frozen):
    """The state of one linked pair (the change's entity, `crm_id`, `mailbox`) as the decision read it."""

    crm_id: str
    mailbox: str
    fields: dict[str, AgreedField] = Field(default_factory=dict)


class DecisionFacts(Frozen):
    """What the rules knew beyond the change (services/policy/verdict.Facts and the merge point's state)."""

    links: dict[str, str] = Field(default_factory=dict)  # mailbox -> exchange_id of the CRM record
    crm_values: dict[str, Any] = Field(default_factory=dict)
    exchange_values: dict[str, dict[str, Any]] = Field(default_factory=dict)  # mailbox -> last known values
    untracked: tuple[str, ...] = ()  # mailboxes whose item is remembered untracked
    agreed: tuple[AgreedPair, ...] = ()  # of the pairs the decision touched, the fields the change carried
    security: SecurityFacts = Field(default_factory=SecurityFacts)
    # Facts of rules added later (sync filters: name -> JSON value); a replay ignores those it does not know.
    extra: dict[str, Any] = Field(default_factory=dict)


class WindowEntry(Frozen):
    """One decided change and the facts it was decided on."""

    change: ItemChanged
    decided_at: datetime
    policy_version: int
    facts: DecisionFacts = Field(default_factory=DecisionFacts)


def within(entries: Iterable[WindowEntry], now: datetime, max_age_s: float, max_entries: int) -> list[WindowEntry]:
    """The window out of entries given newest first: at most `max_entries`, none decided more than `max_age_s`
    before `now`; oldest first (the order they were decided in)."""
    oldest = now - timedelta(seconds=max_age_s)
    kept = [entry for entry in entries if entry.decided_at >= oldest][: max(max_entries, 0)]
    return kept[::-1]


class ChangeWindow:
    """Writes (queued into the caller's pipeline) and reads the window; `max_entries` 0 records nothing."""

    def __init__(
        self, redis: Redis, max_entries: int = DEFAULT_MAX_ENTRIES, max_age_s: float = DEFAULT_MAX_AGE_S
    ) -> None:
        self.redis = redis
        self.max_entries = max_entries
        self.max_age_s = max_age_s

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def queue(self, pipe: Pipeline, raws: Sequence[str]) -> None:
        """Queue entries' JSON (oldest first) and the trim that keeps the last `max_entries` into `pipe`."""
        if not raws or not self.enabled:
            return
        pipe.lpush(redis_keys.CHANGE_WINDOW, *raws)
        pipe.ltrim(redis_keys.CHANGE_WINDOW, 0, self.max_entries - 1)

    async def push(self, raws: Sequence[str]) -> None:
        """Entries' JSON (oldest first) in one round trip (the policy's writer batches them)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            self.queue(pipe, raws)
            await pipe.execute()

    async def record(self, entries: Sequence[WindowEntry]) -> None:
        """Entries as models, in one round trip (tests, tools)."""
        await self.push([entry.model_dump_json() for entry in entries])

    async def read(self, now: datetime) -> list[WindowEntry]:
        """The window as of `now`, oldest first."""
        return self.decode(await self.raw(), now)

    async def raw(self) -> list[Any]:
        """The stored entries as they are, newest first (decode them with `decode`, off the event loop if many)."""
        if not self.enabled:
            return []
        return list(await self.redis.lrange(redis_keys.CHANGE_WINDOW, 0, self.max_entries - 1))

    def decode(self, raws: Iterable[Any], now: datetime) -> list[WindowEntry]:
        """The window as of `now` out of `raw`'s entries, oldest first (CPU only: 5000 entries take about 1 s)."""
        return within(_decoded(raws), now, self.max_age_s, self.max_entries)

    async def size(self) -> int:
        """How many entries the list holds (older ones included until the next trim)."""
        return int(await self.redis.llen(redis_keys.CHANGE_WINDOW))


def _decoded(raws: Iterable[Any]) -> Iterable[WindowEntry]:
    for raw in raws:
        try:
            yield WindowEntry.model_validate_json(raw)
        except ValidationError:
            continue  # written by another version: not a change this one can replay
