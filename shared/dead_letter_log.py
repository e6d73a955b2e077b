"""The dead-letter log: every dead letter kept in Redis with its original bytes, bounded, queryable, audited.

A dead letter's id is where the event failed (origin topic, partition, offset) and a digest of its bytes: the same
event dead-lettered twice (a crash before the commit) is kept once, and another event at the same place after the
embedded broker restarted (it keeps topics in memory, offsets start again at 0) is kept as another letter.
Replays and discards are recorded on the letter and in an audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from redis.exceptions import WatchError

from shared import kafka, redis_keys
from shared.retention import Window, score, utcnow

Status = Literal["open", "replayed", "discarded"]
Action = Literal["replayed", "discarded"]
AUDIT_KEPT = 10_000

# Drops what was dead-lettered before ARGV[1], then the oldest beyond ARGV[2]. KEYS: records hash, time index.
_TRIM = r"""
local function drop(ids)
  for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1]))
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if excess > 0 then drop(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) end
"""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AuditEntry(_Model):
    """Who replayed or discarded which dead letter, when, and why (a discard always says why)."""

    action: Action
    letter_id: str
    actor: str
    at: datetime
    reason: str | None = None
    topic: str | None = None  # where a replay re-published the original bytes


class DeadLetter(_Model):
    """One dead letter: where it came from, why it failed, the original key and bytes, and what was done since."""

    letter_id: str
    dead_lettered_at: datetime  # the dead-letter record's broker timestamp
    service: str
    reason: str
    exception: str | None = None
    traceback: str | None = None
    origin_topic: str
    origin_partition: int
    origin_offset: int
    key: str | None = None  # the original key (UTF-8; keys are strings on every fieldsync topic)
    event_id: str | None = None  # the original event's id, when its bytes are an event
    value_b64: str = ""  # the original bytes, base64
    headers: dict[str, str] = Field(default_factory=dict)
    status: Status = "open"
    history: tuple[AuditEntry, ...] = ()

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)


def letter_id(topic: str, partition: int, offset: int, value: bytes) -> str:
    return f"{topic}:{partition}:{offset}:{hashlib.sha256(value).hexdigest()[:10]}"


def _event_id(value: bytes) -> str | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    found = parsed.get("event_id") if isinstance(parsed, dict) else None
    return found if isinstance(found, str) else None


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def from_record(record: Any) -> DeadLetter:
    """A dead letter from a record of the deadletter topic (headers as shared.kafka.dead_letter_headers)."""
    headers = {name: raw.decode("utf-8", errors="replace") for name, raw in (record.headers or ())}
    origin = headers.get(kafka.ORIGIN_TOPIC_HEADER, "unknown")
    partition = int(headers.get(kafka.ORIGIN_PARTITION_HEADER, "-1") or -1)
    offset = int(headers.get(kafka.ORIGIN_OFFSET_HEADER, "-1") or -1)
    if partition < 0 or offset < 0:  # no origin: name it by its own place in the dead-letter topic
        partition, offset, origin = record.partition, record.offset, f"{record.topic}?{origin}"
    key = record.key if isinstance(record.key, bytes | None) else str(record.key).encode()
    return DeadLetter(
        letter_id=letter_id(origin, partition, offset, record.value or b""),
        dead_lettered_at=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        service=headers.get(kafka.SERVICE_HEADER, "unknown"),
        reason=headers.get(kafka.ERROR_HEADER, ""),
        exception=headers.get(kafka.EXCEPTION_HEADER),
        traceback=headers.get(kafka.TRACEBACK_HEADER),
        origin_topic=origin,
        origin_partition=partition,
        origin_offset=offset,
        key=_text(key),
        event_id=_event_id(record.value or b""),
        value_b64=base64.b64encode(record.value or b"").decode(),
        headers=headers,
    )


class DeadLetterLog:
    """The one owner of the dead-letter keys (redis_keys.DEADLETTER_*).

    A letter is stored once per id (a second recording changes nothing); every recording removes what is older
    than `retention_s` and, oldest first, what exceeds `max_entries`. Queries walk the time index newest first and
    filter by service, a reason substring, time and status: an operator's tool over a bounded set.
    """

    def __init__(
        self, redis: Redis, max_entries: int, retention_s: float, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        if max_entries < 1 or retention_s <= 0:
            raise ValueError("the dead-letter log needs max_entries >= 1 and retention_s > 0")
        self._redis = redis
        self._max = max_entries
        self._window = Window(retention_s, clock)
        self._trim = redis.register_script(_TRIM)

    async def record(self, letter: DeadLetter) -> bool:
        """Keep one dead letter; True when it was new."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(redis_keys.DEADLETTER_RECORDS, letter.letter_id, letter.model_dump_json())
            pipe.zadd(redis_keys.DEADLETTERS_BY_TIME, {letter.letter_id: score(letter.dead_lettered_at)}, nx=True)
            if letter.event_id is not None:
                ttl_ms = max(1, self._window.retention_us // 1000)
                pipe.set(redis_keys.dead_letter_of_event(letter.event_id), letter.letter_id, px=ttl_ms)
            added, *_ = await pipe.execute()
        await self._trim(keys=[redis_keys.DEADLETTER_RECORDS, redis_keys.DEADLETTERS_BY_TIME],
                         args=[self._oldest_kept(), self._max])
        return bool(added)

    async def letters_of(self, event_ids: list[str]) -> dict[str, str]:
        """Event id -> the id of the dead letter it became, for those of `event_ids` that became one."""
        if not event_ids:
            return {}
        found = await self._redis.mget([redis_keys.dead_letter_of_event(e) for e in event_ids])
        return {e: raw.decode() if isinstance(raw, bytes) else str(raw)
                for e, raw in zip(event_ids, found, strict=True) if raw is not None}

    async def get(self, letter_id: str) -> DeadLetter | None:
        raw = await self._redis.hget(redis_keys.DEADLETTER_RECORDS, letter_id)
        return None if raw is None else DeadLetter.model_validate_json(raw)

    async def query(
        self,
        *,
        service: str | None = None,
        reason: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: Status | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[DeadLetter], int]:
        """One page of the matching letters, newest first, and how many match; `since` and `until` inclusive."""
        if offset < 0 or limit <= 0:
            raise ValueError("offset must be >= 0 and limit > 0")
        low = self._oldest_kept() if since is None else max(self._oldest_kept(), score(since))
        high: int | str = "+inf" if until is None else score(until)
        if service is None and reason is None and status is None:  # a page of the time index: no scan
            total = int(await self._redis.zcount(redis_keys.DEADLETTERS_BY_TIME, low, high))
            page: list[Any] = await self._redis.zrevrangebyscore(
                redis_keys.DEADLETTERS_BY_TIME, high, low, start=offset, num=limit
            )
            raws = await self._redis.hmget(redis_keys.DEADLETTER_RECORDS, page) if page else []
            return [DeadLetter.model_validate_json(raw) for raw in raws if raw is not None], total
        ids: list[Any] = await self._redis.zrevrangebyscore(redis_keys.DEADLETTERS_BY_TIME, high, low)
        needle = reason.lower() if reason else None
        matching: list[DeadLetter] = []
        for start in range(0, len(ids), 500):
            for raw in await self._redis.hmget(redis_keys.DEADLETTER_RECORDS, ids[start : start + 500]):
                if raw is None:
                    continue
                letter = DeadLetter.model_validate_json(raw)
                if service is not None and letter.service != service:
                    continue
                if needle is not None and needle not in letter.reason.lower():
                    continue
                if status is not None and letter.status != status:
                    continue
                matching.append(letter)
        return matching[offset : offset + limit], len(matching)

    async def mark(self, letter: DeadLetter, entry: AuditEntry) -> DeadLetter:
        """Record a replay or discard on the letter (as stored now) and in the audit trail; the letter as it is now.

        Optimistic (WATCH): two admins replaying the same letter at once both end in its history."""
        status: Status = "replayed" if entry.action == "replayed" else "discarded"
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(redis_keys.DEADLETTER_RECORDS)
                    raw = await pipe.hget(redis_keys.DEADLETTER_RECORDS, letter.letter_id)
                    current = letter if raw is None else DeadLetter.model_validate_json(raw)
                    updated = current.model_copy(update={"status": status, "history": (*current.history, entry)})
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(redis_keys.DEADLETTER_RECORDS, letter.letter_id, updated.model_dump_json())
                    pipe.rpush(redis_keys.DEADLETTER_AUDIT, entry.model_dump_json())
                    pipe.ltrim(redis_keys.DEADLETTER_AUDIT, -AUDIT_KEPT, -1)
                    await pipe.execute()
                    return updated
                except WatchError:
                    continue  # another mark came first: read the letter again

    async def audit(self, offset: int = 0, limit: int = 50) -> tuple[list[AuditEntry], int]:
        """The audit trail, newest first."""
        total = int(await self._redis.llen(redis_keys.DEADLETTER_AUDIT))
        if offset >= total:
            return [], total
        end, start = total - 1 - offset, max(0, total - offset - limit)
        raw: list[Any] = await self._redis.lrange(redis_keys.DEADLETTER_AUDIT, start, end)
        return [AuditEntry.model_validate_json(item) for item in reversed(raw)], total

    def _oldest_kept(self) -> int:
        return self._window.oldest_kept()
