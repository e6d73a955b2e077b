"""The explain log: every SyncDecision and DeltaApplied kept in Redis per item and mailbox, bounded, queryable.

An *item* is a CRM record (its id) or, before it is linked, an Exchange item (`x-{mailbox}:{exchange_id}`, as
the policy keys it). A *lane* is one mailbox of the item, or "" for what concerns CRM alone. A decision is kept
in every lane it names (outcomes and notes of a target go to that target's mailbox; a CRM target names the
mailbox of the pair), each copy holding only that lane's outcomes and notes, so a lane is trimmed on its own.
A DeltaApplied is kept in the lane of its delta's mailbox, under the item it names (an Exchange item created
in CRM is kept under its new CRM id: explain reads the item's links too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from shared import redis_keys
from shared.events import DeltaApplied, SyncDecision
from shared.retention import Window, score, utcnow

CRM_LANE = ""
# A decision sends at most two deltas to one lane (the mailbox, and CRM for its pair), each applied once and then
# perhaps again after a dead-letter replay: the lane keeps this many applier results per decision it keeps.
APPLIED_PER_DECISION = 4

# Stores one event once (HSETNX by id: a replay changes nothing), then trims the lane: what is older than
# ARGV[5] goes, then the oldest decisions beyond ARGV[6] and results beyond ARGV[7]; every key of the lane
# lives ARGV[8] ms past its last write, so an idle item leaves nothing behind.
# KEYS: item lanes set, lane events hash, the event's own index, decisions index, applied index.
# ARGV: id, JSON, score, lane, oldest score kept, max decisions, max results, ttl ms. Returns 1 when stored.
_RECORD = r"""
local added = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
if added == 1 then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
redis.call('SADD', KEYS[1], ARGV[4])
local function drop(index, ids)
  for _, id in ipairs(ids) do
    redis.call('ZREM', index, id)
    redis.call('HDEL', KEYS[2], id)
  end
end
for _, index in ipairs({KEYS[4], KEYS[5]}) do
  drop(index, redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[5]))
end
local limits = {[KEYS[4]] = tonumber(ARGV[6]), [KEYS[5]] = tonumber(ARGV[7])}
for _, index in ipairs({KEYS[4], KEYS[5]}) do
  local excess = redis.call('ZCARD', index) - limits[index]
  if excess > 0 then drop(index, redis.call('ZRANGE', index, 0, excess - 1)) end
end
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[8]) end
return added
"""


def exchange_item(mailbox: str, exchange_id: str) -> str:
    """The item name of an Exchange item that has no CRM record (yet): as the policy keys its deltas."""
    return f"x-{mailbox.lower()}:{exchange_id}"


def item_of(crm_id: str | None, mailbox: str | None, exchange_id: str | None) -> str | None:
    if crm_id:
        return crm_id
    if mailbox and exchange_id:
        return exchange_item(mailbox, exchange_id)
    return None


def lane_of(mailbox: str | None) -> str:
    return (mailbox or CRM_LANE).lower()


def decision_lanes(decision: SyncDecision) -> dict[str, SyncDecision]:
    """The decision as each lane keeps it: only that lane's outcomes and notes (a CRM target counts for the
    mailbox of the pair it came from, which a CRM outcome names or the change's mailbox is), without the
    `unchanged` outcomes the policy adds for every field the change did not touch (explain never shows them)."""
    def lane(mailbox: str | None, target: str) -> str:
        return lane_of(mailbox or (decision.mailbox if target == "crm" else None))

    kept = [o for o in decision.outcomes if o.reason != "unchanged"]  # every field the change did not touch
    names = {lane(o.mailbox, o.target) for o in kept} | {lane(n.mailbox, n.target) for n in decision.notes}
    if not names:
        names = {lane_of(decision.mailbox)}
    return {
        name: decision.model_copy(update={
            "outcomes": tuple(o for o in kept if lane(o.mailbox, o.target) == name),
            "notes": tuple(n for n in decision.notes if lane(n.mailbox, n.target) == name),
        })
        for name in sorted(names)
    }


@dataclass(frozen=True)
class LaneLog:
    """What one lane of an item holds: decisions and applier results, oldest first."""

    lane: str
    decisions: list[SyncDecision]
    applied: list[DeltaApplied]


class ExplainLog:
    """The one owner of the explain keys (redis_keys.explain_*): the recorder writes, the admin API reads.

    Per lane it keeps the last `max_per_lane` decisions and APPLIED_PER_DECISION times as many results, none
    older than `retention_s` (by decision time, against `clock`); a read never shows older ones either.
    """

    def __init__(
        self, redis: Redis, max_per_lane: int, retention_s: float, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        if max_per_lane < 1 or retention_s <= 0:
            raise ValueError("the explain log needs max_per_lane >= 1 and retention_s > 0")
        self._redis = redis
        self._max = max_per_lane
        self._window = Window(retention_s, clock)
        self._record = redis.register_script(_RECORD)

    async def record_decision(self, decision: SyncDecision) -> int:
        """Keep the decision in each lane it names; how many lanes stored it anew (0: all had it already)."""
        item = item_of(decision.crm_id, decision.mailbox, decision.exchange_id)
        if item is None:
            return 0
        stored = 0
        for lane, copy in decision_lanes(decision).items():
            stored += await self._store(decision.entity, item, lane, copy.event_id, copy.model_dump_json(),
                                        decision.decided_at, redis_keys.explain_decisions)
        return stored

    async def record_applied(self, applied: DeltaApplied) -> int:
        """Keep one applier result in its delta's lane; 1 when stored anew."""
        item = item_of(applied.crm_id, applied.mailbox, applied.exchange_id)
        if item is None:
            return 0
        return await self._store(applied.entity, item, lane_of(applied.mailbox), applied.event_id,
                                 applied.model_dump_json(), applied.decided_at, redis_keys.explain_applied)

    async def _store(
        self, entity: str, item: str, lane: str, event_id: str, payload: str, decided_at: datetime,
        index: Callable[[str, str, str], str],
    ) -> int:
        keys = [
            redis_keys.explain_item(entity, item), redis_keys.explain_events(entity, item, lane),
            index(entity, item, lane), redis_keys.explain_decisions(entity, item, lane),
            redis_keys.explain_applied(entity, item, lane),
        ]
        ttl_ms = max(1, self._window.retention_us // 1000)
        args: list[str | int] = [event_id, payload, score(decided_at), lane, self._oldest_kept(), self._max,
                self._max * APPLIED_PER_DECISION, ttl_ms]
        return int(await self._record(keys=keys, args=args))

    async def lanes(self, entity: str, item: str) -> list[str]:
        raw = await self._redis.smembers(redis_keys.explain_item(entity, item))
        return sorted(name.decode() if isinstance(name, bytes) else str(name) for name in raw)

    async def read(self, entity: str, item: str, lane: str) -> LaneLog:
        """One lane's decisions and results within the retention, oldest first."""
        low = self._oldest_kept()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(redis_keys.explain_decisions(entity, item, lane), low, "+inf")
            pipe.zrangebyscore(redis_keys.explain_applied(entity, item, lane), low, "+inf")
            decision_ids, applied_ids = await pipe.execute()
        events = redis_keys.explain_events(entity, item, lane)
        decisions = [
            SyncDecision.model_validate_json(raw)
            for raw in (await self._redis.hmget(events, decision_ids) if decision_ids else [])
            if raw is not None
        ]
        applied = [
            DeltaApplied.model_validate_json(raw)
            for raw in (await self._redis.hmget(events, applied_ids) if applied_ids else [])
            if raw is not None
        ]
        return LaneLog(lane, decisions, applied)

    def _oldest_kept(self) -> int:
        return self._window.oldest_kept()
