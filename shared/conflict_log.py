"""The conflict log: every decided conflict in Redis, recorded once by id, bounded by age and count, queryable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared import redis_keys
from shared.events import ConflictRecord
from shared.retention import Window, score, utcnow

# Drops every entry decided before ARGV[1], then the oldest while more than ARGV[2] remain: from the time
# index, the records, and the indexes named in its index-keys entry. Those names were built by queue() with
# redis_keys, so the script never spells a key; it touches keys it was not passed, which standalone Redis
# (fieldsync's only deployment) allows. KEYS: records hash, index-keys hash, time index.
_TRIM = r"""
local removed = 0
local function drop(id)
  local keys = redis.call('HGET', KEYS[2], id)
  if keys then
    for key in string.gmatch(keys, '[^\n]+') do redis.call('ZREM', key, id) end
  end
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  removed = removed + 1
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1])) do drop(id) end
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[2])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do drop(id) end
end
return removed
"""

# One page of the ids present in every index KEYS[2..] decided at or after ARGV[1], newest first, with the total
# count: the smallest index is walked and the others only probed, so one item's conflicts cost what that item
# holds. Returns {total, record JSON...}. KEYS: records hash, then the indexes. ARGV: lowest score, offset, limit.
_QUERY = r"""
local low, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local primary, smallest = 2, nil
for i = 2, #KEYS do
  local size = redis.call('ZCARD', KEYS[i])
  if smallest == nil or size < smallest then primary, smallest = i, size end
end
local total, ids = 0, {}
if #KEYS == 2 then
  total = redis.call('ZCOUNT', KEYS[2], low, '+inf')
  ids = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', low, 'LIMIT', offset, limit)
else
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[primary], '+inf', low)) do
    local everywhere = true
    for i = 2, #KEYS do
      if i ~= primary and not redis.call('ZSCORE', KEYS[i], id) then everywhere = false break end
    end
    if everywhere then
      total = total + 1
      if total > offset and #ids < limit then ids[#ids + 1] = id end
    end
  end
end
local result = {total}
if #ids > 0 then
  for _, record in ipairs(redis.call('HMGET', KEYS[1], unpack(ids))) do result[#result + 1] = record end
end
return result
"""


def _index_keys(record: ConflictRecord) -> tuple[str, ...]:
    return (
        redis_keys.conflicts_by_entity(record.entity),
        redis_keys.conflicts_by_mailbox(record.mailbox),
        redis_keys.conflicts_by_item(record.crm_id),
    )


class ConflictLog:
    """The one owner of the conflict keys (redis_keys.CONFLICT_*, conflicts_by_*).

    A record is stored once per conflict_id (the first recording wins: a replay, even one decided at another
    time, changes nothing), indexed by time, entity, mailbox and CRM record. Every write also removes what is
    older than `retention_s` (by decided_at, against `clock`) and, oldest first, what exceeds `max_entries`;
    a query never shows an entry older than `retention_s`, even before a write removed it.
    """

    def __init__(
        self, redis: Redis, max_entries: int, retention_s: float, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        if max_entries < 1 or retention_s <= 0:
            raise ValueError("the conflict log needs max_entries >= 1 and retention_s > 0")
        self._redis = redis
        self._max_entries = max_entries
        self._window = Window(retention_s, clock)
        self._trim = redis.register_script(_TRIM)
        self._query = redis.register_script(_QUERY)

    def queue(self, pipe: Pipeline, records: Sequence[ConflictRecord]) -> None:
        """Add the writes of `records` and the trim to the caller's transaction (`pipeline(transaction=True)`).

        A caller that WATCHes must call `pipe.multi()` first, so that the commands are queued, not sent.
        """
        if not records:
            return
        if pipe.watching and not pipe.explicit_transaction:
            raise RuntimeError("ConflictLog.queue needs a queuing pipeline: call pipe.multi() after WATCH")
        for record in records:
            scored = {record.conflict_id: score(record.decided_at)}
            keys = _index_keys(record)
            pipe.hsetnx(redis_keys.CONFLICT_RECORDS, record.conflict_id, record.model_dump_json())
            pipe.hsetnx(redis_keys.CONFLICT_INDEX_KEYS, record.conflict_id, "\n".join(keys))
            for key in (redis_keys.CONFLICTS_BY_TIME, *keys):
                pipe.zadd(key, scored, nx=True)  # nx: a replay keeps the first recording's time
        # The script call must be queued without awaiting (queue is synchronous): register it with the
        # pipeline, as redis-py's AsyncScript does, so execute() loads it first if the server does not know it
        # (redis-py annotates the set with the synchronous Script class it does not hold here).
        pipe.scripts.add(self._trim)  # type: ignore[arg-type]
        pipe.evalsha(
            self._trim.sha, 3, redis_keys.CONFLICT_RECORDS, redis_keys.CONFLICT_INDEX_KEYS,
            redis_keys.CONFLICTS_BY_TIME, self._oldest_kept(), self._max_entries,
        )

    async def record(self, records: Sequence[ConflictRecord]) -> None:
        """The same writes as queue(), in a transaction of their own."""
        async with self._redis.pipeline(transaction=True) as pipe:
            self.queue(pipe, records)
            await pipe.execute()

    async def query(
        self,
        *,
        entity: str | None = None,
        crm_id: str | None = None,
        mailbox: str | None = None,
        since: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[ConflictRecord], int]:
        """One page of the matching conflicts, newest first, and how many match; `since` is inclusive."""
        if offset < 0 or limit <= 0:
            raise ValueError("offset must be >= 0 and limit > 0")
        low = self._oldest_kept() if since is None else max(self._oldest_kept(), score(since))
        indexes = [
            key_of(value)
            for key_of, value in (
                (redis_keys.conflicts_by_item, crm_id),
                (redis_keys.conflicts_by_mailbox, mailbox),
                (redis_keys.conflicts_by_entity, entity),
            )
            if value is not None
        ]
        keys = [redis_keys.CONFLICT_RECORDS, *(indexes or [redis_keys.CONFLICTS_BY_TIME])]
        total, *raw = await self._query(keys=keys, args=[low, offset, limit])
        return [ConflictRecord.model_validate_json(item) for item in raw if item is not None], int(total)

    def _oldest_kept(self) -> int:
        return self._window.oldest_kept()
