"""Both twins record an applier's post-write state the same way on a real redis-server: snapshot, echo and
link in one step, the link readable from either side through shared.link_store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.crm.snapshot import Echo as CrmEcho
from shared.crm.state import CrmState
from shared.exchange.state import ExchangeState
from shared.link_store import LinkStore

pytestmark = pytest.mark.integration
MAILBOX = "links@example.test"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_crm_write_records_echo_snapshot_and_link_together(redis: Redis) -> None:
    state, crm_id, item = CrmState(redis), str(uuid.uuid4()), str(uuid.uuid4())
    await state.store_snapshot("contact", crm_id, {"firstname": "Old", "jobtitle": "Buyer", "@version": "1"})
    await state.record_write("contact", crm_id, CrmEcho("2", {"firstname": "New"}), {"firstname": "New",
                             "@version": "2"}, link=(MAILBOX, item))
    assert await state.snapshot("contact", crm_id) == {"firstname": "New", "jobtitle": "Buyer", "@version": "2"}
    echo = await state.echo("contact", crm_id)
    assert echo is not None and echo.version == "2" and echo.values == {"firstname": "New"}
    links = LinkStore(redis)
    assert await links.of_record("contact", crm_id) == {MAILBOX: item}
    assert await links.of_item(MAILBOX, item) == ("contact", crm_id)
    assert await ExchangeState(redis).linked_crm(MAILBOX, item) == ("contact", crm_id)


async def test_a_crm_create_replaces_the_snapshot_with_the_new_row(redis: Redis) -> None:
    state, crm_id = CrmState(redis), str(uuid.uuid4())
    await state.store_snapshot("task", crm_id, {"subject": "stale", "@version": "7"})
    await state.record_write("task", crm_id, CrmEcho("1", {"subject": "made"}), {"subject": "made", "@version": "1"},
                             replace_snapshot=True)
    assert await state.snapshot("task", crm_id) == {"subject": "made", "@version": "1"}
    assert await LinkStore(redis).of_record("task", crm_id) == {}


async def test_unlinking_a_record_removes_both_directions_for_every_mailbox(redis: Redis) -> None:
    links, crm_id = LinkStore(redis), str(uuid.uuid4())
    items = {f"{n}@example.test": str(uuid.uuid4()) for n in ("a", "b")}
    for mailbox, item in items.items():
        await links.link("contact", crm_id, mailbox, item)
    await ExchangeState(redis).record_write("b@example.test", items["b@example.test"], entity="contact",
                                            crm_id=crm_id, written={"surname": "x"}, version="ck1",
                                            replace_snapshot=True)
    assert await links.of_record("contact", crm_id) == items
    await links.unlink_record("contact", crm_id)
    assert await links.of_record("contact", crm_id) == {}
    for mailbox, item in items.items():
        assert await links.of_item(mailbox, item) is None
