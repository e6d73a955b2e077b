"""The explain and dead-letter logs on a real redis-server: recorded once, per lane, bounded by count and age."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from shared import kafka, redis_keys
from shared.dead_letter_log import AuditEntry, DeadLetterLog, from_record
from shared.event_ids import decision_id
from shared.events import DeltaApplied, FieldOutcome, Source, SyncDecision, TargetNote
from shared.explain_log import ExplainLog, exchange_item

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = 86_400.0
ALICE, BOB = "Alice@sandbox.local", "bob@sandbox.local"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def decision(at: datetime, crm_id: str | None = "c-1", mailbox: str | None = None, **ids: str) -> SyncDecision:
    change = str(uuid.uuid4())
    outcomes = (
        FieldOutcome(field="jobtitle", target="exchange", mailbox=ALICE, synced=True),
        FieldOutcome(field="nickname", target="exchange", mailbox=ALICE, synced=False, reason="unchanged"),
        FieldOutcome(field="jobtitle", target="exchange", mailbox=BOB, synced=False, reason="out_of_scope"),
    )
    notes = (
        TargetNote(target="exchange", mailbox=ALICE, effect="update", reason="update"),
        TargetNote(target="exchange", mailbox=BOB, effect=None, reason="out_of_scope"),
    )
    return SyncDecision(
        event_id=decision_id(change), occurred_at=at, captured_at=at, source=Source(system="crm"), entity="contact",
        op="update", crm_id=crm_id, mailbox=mailbox, causation_id=change, policy_version=3, decided_at=at,
        outcomes=outcomes, notes=notes, **ids,
    )


def applied(at: datetime, mailbox: str = ALICE, crm_id: str | None = "c-1") -> DeltaApplied:
    return DeltaApplied(
        event_id=str(uuid.uuid4()), occurred_at=at, captured_at=at, source=Source(system="exchange"), entity="contact",
        op="update", crm_id=crm_id, mailbox=mailbox, exchange_id="AAMk-1", causation_id="d", target="exchange",
        result="applied", decided_at=at, applied_at=at,
    )


async def test_a_decision_is_kept_once_in_each_mailbox_lane_with_only_that_lanes_outcomes(redis: Redis) -> None:
    log = ExplainLog(redis, 10, DAY, clock=Clock(T0))
    made = decision(T0)
    assert await log.record_decision(made) == 2
    assert await log.record_decision(made) == 0  # a replay changes nothing
    assert await log.lanes("contact", "c-1") == [ALICE.lower(), BOB]
    alice = await log.read("contact", "c-1", ALICE.lower())
    assert [(o.field, o.mailbox) for d in alice.decisions for o in d.outcomes] == [("jobtitle", ALICE)]  # no unchanged
    assert [n.mailbox for d in alice.decisions for n in d.notes] == [ALICE]
    bob = await log.read("contact", "c-1", BOB)
    assert [(o.mailbox, o.reason) for d in bob.decisions for o in d.outcomes] == [(BOB, "out_of_scope")]

    result = applied(T0)
    assert (await log.record_applied(result), await log.record_applied(result)) == (1, 0)
    assert (await log.read("contact", "c-1", ALICE.lower())).applied == [result]


async def test_each_lane_keeps_its_last_n_decisions_and_nothing_older_than_the_retention(redis: Redis) -> None:
    clock = Clock(T0)
    log = ExplainLog(redis, 3, DAY, clock=clock)
    made = [decision(T0 + timedelta(minutes=i)) for i in range(5)]
    for one in made:
        await log.record_decision(one)
    kept = await log.read("contact", "c-1", BOB)
    assert [d.event_id for d in kept.decisions] == [d.event_id for d in made[2:]]  # oldest first, the last 3
    assert await redis.hlen(redis_keys.explain_events("contact", "c-1", BOB)) == 3  # trimmed, not hidden

    clock.now = T0 + timedelta(days=1, minutes=3, seconds=30)  # only the newest is younger than a day
    assert [d.event_id for d in (await log.read("contact", "c-1", BOB)).decisions] == [made[4].event_id]
    assert 0 < await redis.pttl(redis_keys.explain_item("contact", "c-1")) <= DAY * 1000  # idle items expire


async def test_an_unlinked_mailbox_item_is_kept_under_its_exchange_name(redis: Redis) -> None:
    log = ExplainLog(redis, 10, DAY, clock=Clock(T0))
    made = decision(T0, crm_id=None, mailbox=ALICE, exchange_id="AAMk-9")
    await log.record_decision(made)
    assert await log.lanes("contact", exchange_item(ALICE, "AAMk-9")) == [ALICE.lower(), BOB]


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int
    headers: list[tuple[str, bytes]]


def dead_letter_record(service: str, error: str, offset: int, at: datetime) -> FakeRecord:
    headers = kafka.dead_letter_headers(error, service, "fieldsync.deltas.crm", 2, offset, ValueError("bad"))
    return FakeRecord("fieldsync.deadletter", 0, 100 + offset, b"contact:c-1", b'{"x": 1}',
                      int(at.timestamp() * 1000), headers)


async def test_dead_letters_are_kept_once_filtered_paged_and_their_replays_audited(redis: Redis) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    log = DeadLetterLog(redis, 100, DAY, clock=clock)
    records = [
        dead_letter_record("crm_applier", "CRM 400: writes refused", 1, T0),
        dead_letter_record("exchange_applier", "invalid delta: no mailbox", 2, T0 + timedelta(minutes=1)),
        dead_letter_record("crm_applier", "CRM 400: writes refused", 3, T0 + timedelta(minutes=2)),
    ]
    letters = [from_record(r) for r in records]
    assert [await log.record(letter) for letter in letters] == [True, True, True]
    assert await log.record(from_record(records[0])) is False  # the same origin event: kept once
    after_restart = from_record(FakeRecord(**{**vars(records[0]), "value": b'{"x": 2}'}))
    assert after_restart.letter_id != letters[0].letter_id  # another event where a restarted broker put it
    first = letters[0]
    assert (first.letter_id.rsplit(":", 1)[0], first.service, first.origin_topic, first.key) == (
        "fieldsync.deltas.crm:2:1", "crm_applier", "fieldsync.deltas.crm", "contact:c-1"
    )
    assert first.value == b'{"x": 1}' and base64.b64decode(first.value_b64) == b'{"x": 1}'
    assert first.exception == "ValueError"

    page, total = await log.query(service="crm_applier", until=T0 + timedelta(minutes=5))
    assert (total, [x.origin_offset for x in page]) == (2, [3, 1])  # newest first
    page, total = await log.query(reason="NO MAILBOX")
    assert [x.origin_offset for x in page] == [2]
    page, total = await log.query(since=T0 + timedelta(minutes=1), limit=1, offset=1)
    assert (total, [x.origin_offset for x in page]) == (2, [2])

    entry = AuditEntry(action="replayed", letter_id=first.letter_id, actor="ops", at=clock.now, topic="t")
    updated = await log.mark(first, entry)
    assert updated.status == "replayed" and updated.history == (entry,)
    assert (await log.get(first.letter_id)) == updated
    assert (await log.query(status="open"))[1] == 2
    assert await log.audit() == ([entry], 1)

    second, third = (
        AuditEntry(action="replayed", letter_id=letters[1].letter_id, actor=name, at=clock.now) for name in "ab"
    )
    await asyncio.gather(log.mark(letters[1], second), log.mark(letters[1], third))  # at once: neither is lost
    assert {e.actor for e in (await log.get(letters[1].letter_id)).history} == {"a", "b"}  # type: ignore[union-attr]

    clock.now = T0 + timedelta(days=1, minutes=1, seconds=30)  # the first two are older than a day now
    assert [x.origin_offset for x in (await log.query())[0]] == [3]


async def test_a_dead_letter_is_found_by_the_id_of_the_event_it_was(redis: Redis) -> None:
    log = DeadLetterLog(redis, 100, DAY, clock=Clock(T0))
    event = str(uuid.uuid4())
    record = dead_letter_record("crm_applier", "CRM 400", 7, T0)
    letter = from_record(FakeRecord(**{**vars(record), "value": f'{{"event_id": "{event}"}}'.encode()}))
    assert letter.event_id == event and from_record(record).event_id is None  # bytes that are no event: none
    await log.record(letter)
    assert await log.letters_of([event, "unknown"]) == {event: letter.letter_id}
