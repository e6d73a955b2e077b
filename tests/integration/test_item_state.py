"""Storing a capture's read snapshot on a real redis-server: never over an applier's newer write."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.exchange.snapshot import EXACT, VERSION, Echo
from shared.exchange.state import ExchangeState

pytestmark = pytest.mark.integration
MAILBOX = "state@example.test"


@pytest.fixture
async def state(redis_url: str) -> AsyncIterator[ExchangeState]:
    redis = Redis.from_url(redis_url)
    yield ExchangeState(redis)
    await redis.aclose()


async def test_an_unmoved_snapshot_is_replaced(state: ExchangeState) -> None:
    item = str(uuid.uuid4())
    assert await state.store_read_snapshot(MAILBOX, item, {"subject": "a", VERSION: "ck1"}, None) == 1
    seen = await state.snapshot(MAILBOX, item)
    assert await state.store_read_snapshot(MAILBOX, item, {"subject": "b", VERSION: "ck2"}, seen) == 1
    assert await state.snapshot(MAILBOX, item) == {"subject": "b", VERSION: "ck2"}


async def test_a_read_older_than_the_appliers_write_goes_under_it(state: ExchangeState) -> None:
    item = str(uuid.uuid4())
    await state.store_read_snapshot(MAILBOX, item, {"subject": "s0", "location": "l0", VERSION: "ck0"}, None)
    seen = await state.snapshot(MAILBOX, item)
    # The capture read ck1 (the user changed the subject); before it stores, the applier writes the location.
    await state.record_write(MAILBOX, item, entity="appointment", crm_id=None, written={"location": "l2"},
                             version="ck2", replace_snapshot=False)
    stored = await state.store_read_snapshot(MAILBOX, item, {"subject": "s1", "location": "l0", VERSION: "ck1"}, seen)
    assert stored == 2
    assert await state.snapshot(MAILBOX, item) == {"subject": "s1", "location": "l2", VERSION: "ck2"}


async def test_a_snapshot_created_by_the_applier_meanwhile_is_kept_apart_from_unwritten_fields(
    state: ExchangeState,
) -> None:
    item = str(uuid.uuid4())
    await state.record_write(MAILBOX, item, entity="task", crm_id=None, written={"subject": "mine", "body": None},
                             version="ck5", replace_snapshot=True)
    assert await state.store_read_snapshot(MAILBOX, item, {"subject": "old", "extra": 1, VERSION: "ck4"}, None) == 2
    assert await state.snapshot(MAILBOX, item) == {"subject": "mine", "body": None, "extra": 1, VERSION: "ck5"}


async def test_a_snapshot_moved_by_someone_else_is_kept(state: ExchangeState) -> None:
    item = str(uuid.uuid4())
    await state.store_read_snapshot(MAILBOX, item, {"subject": "a", VERSION: "ck1"}, None)
    seen = await state.snapshot(MAILBOX, item)
    await state.store_snapshot(MAILBOX, item, {"subject": "c", VERSION: "ck3"})  # another capture round
    assert await state.store_read_snapshot(MAILBOX, item, {"subject": "b", VERSION: "ck2"}, seen) == 0
    assert await state.snapshot(MAILBOX, item) == {"subject": "c", VERSION: "ck3"}


async def test_an_older_read_laid_under_an_exact_write_leaves_the_snapshot_not_exact(state: ExchangeState) -> None:
    """The merge mixes two moments of the item: the capture must read it again (diff.known_version is False)."""
    item = str(uuid.uuid4())
    await state.store_read_snapshot(MAILBOX, item, {"subject": "s0", VERSION: "ck0", EXACT: "ck0"}, None)
    seen = await state.snapshot(MAILBOX, item)
    await state.record_write(MAILBOX, item, entity="task", crm_id=None, written={"subject": "mine"},
                             version="ck2", replace_snapshot=False, exact=True)  # fmt: skip
    assert (await state.snapshot(MAILBOX, item) or {})[EXACT] == "ck2"
    assert await state.store_read_snapshot(MAILBOX, item, {"subject": "s1", VERSION: "ck1", EXACT: "ck1"}, seen) == 2
    merged = await state.snapshot(MAILBOX, item) or {}
    assert (merged[VERSION], merged[EXACT]) == ("ck2", "ck1")


async def test_an_announcement_keeps_the_record_of_the_last_write_until_its_own_write_is_recorded(
    state: ExchangeState,
) -> None:
    item = str(uuid.uuid4())
    await state.record_write(MAILBOX, item, entity="task", crm_id=None, written={"subject": "s1"}, version="ck1",
                             replace_snapshot=True, exact=True)
    await state.announce(MAILBOX, item, {"body": "b2"})
    assert await state.echo(MAILBOX, item) == Echo("ck1", {"subject": "s1"}, None, {"body": "b2"})
    await state.record_write(MAILBOX, item, entity="task", crm_id=None, written={"body": "b2"}, version="ck2",
                             replace_snapshot=False)
    assert await state.echo(MAILBOX, item) == Echo("ck2", {"body": "b2"}, None, {})
