"""exchange_capture recovers on its own: a SyncState Exchange no longer accepts becomes a full read of the folder
without duplicates or lost deletes, and a folder that keeps failing does not keep the mailbox's others back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
import pytest
from exchangelib import EWSDateTime
from exchangelib.ewsdatetime import UTC as EWS_UTC
from redis.asyncio import Redis

from infra.sandbox.exchange.server import ExchangeSandboxUrls
from services.exchange_capture.main import build_loop, run
from shared import redis_keys, topics
from shared.exchange.client import ExchangeClient
from shared.exchange.errors import ExchangeError
from shared.exchange.state import ExchangeState
from shared.exchange.sync import SyncPage
from shared.kafka import make_producer
from tests.integration.exchange.conftest import UserMailbox
from tests.integration.exchange.test_exchange_capture import capture_settings, events_of
from tests.integration.harness import run_service, stop_service
from tests.support import eventually_async

pytestmark = pytest.mark.integration


async def test_an_invalid_sync_state_becomes_a_full_read_without_duplicates_or_lost_deletes(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    exchange_state: ExchangeState, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fieldsync.exchange_capture")
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    settings = capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address)
    match, parsed = events_of(reader, user.address)
    kept = await user.create("contact", given_name="Kept", display_name="Kept")
    changed = await user.create("contact", given_name="Changed", display_name="Changed")
    doomed = await user.create("contact", given_name="Doomed", display_name="Doomed")
    linked = await user.create("task", subject="Linked, deleted")  # its link names the folder it was in
    meeting = await user.create("appointment", subject="Other folder",
                                start=EWSDateTime(2026, 12, 1, 9, tzinfo=EWS_UTC),
                                end=EWSDateTime(2026, 12, 1, 10, tzinfo=EWS_UTC))  # fmt: skip
    await exchange_state.link("task", "crm-task-linked", user.address, linked.id)
    task, stop = await run_service(run, settings)
    try:
        for item in (kept, changed, doomed, linked, meeting):
            await reader.wait_for(lambda r, i=item: match(r) and parsed(r).exchange_id == i.id, what="first creates")
    finally:
        await stop_service(task, stop)

    ids = {name: item.id for name, item in (("kept", kept), ("changed", changed), ("doomed", doomed),
                                               ("linked", linked), ("meeting", meeting))}  # fmt: skip
    # While capture is away, the sync states become invalid (a mailbox move, a store repair).
    await user.update(changed, job_title="Changed while invalid")
    await user.delete(doomed)
    await user.delete(linked)
    ids["added"] = (await user.create("contact", given_name="Added", display_name="Added")).id
    async with httpx.AsyncClient() as http:
        assert (await http.post(ews_sandbox.expire_sync_states_url)).status_code == 200

    task, stop = await run_service(run, settings)

    def of(name: str) -> list[Any]:  # deleted exchangelib items forget their id: look them up by name
        return [parsed(r) for r in reader.matching(lambda r: match(r) and parsed(r).exchange_id == ids[name])]

    try:
        for name, count in (("changed", 2), ("doomed", 2), ("linked", 2), ("added", 1)):
            await reader.wait_for(lambda r, n=name: match(r) and parsed(r).exchange_id == ids[n], count=count,
                                  what=f"the change of {name} made while the sync states were invalid")
        await user.update(kept, job_title="After")  # the new sync state works
        await reader.wait_for(lambda r: match(r) and parsed(r).exchange_id == ids["kept"], count=2, what="after")
    finally:
        await stop_service(task, stop)
    assert [(e.op, e.changed) for e in of("changed")][1] == ("update", {"jobtitle": "Changed while invalid"})
    assert [e.op for e in of("doomed")] == ["create", "delete"] and of("doomed")[1].entity == "contact"
    assert [(e.op, e.entity, e.crm_id) for e in of("linked")][1] == ("delete", "task", "crm-task-linked")
    assert [e.op for e in of("added")] == ["create"]
    assert [(e.op, e.changed) for e in of("kept")][1] == ("update", {"jobtitle": "After"})
    assert [e.op for e in of("meeting")] == ["create"]  # another folder's item: neither created again nor deleted
    assert [len(of(name)) for name in ids] == [2, 2, 2, 2, 1, 1]  # nothing sent twice
    assert await exchange_state.snapshot(user.address, ids["doomed"]) is None
    warned = [r.getMessage() for r in caplog.records if "is no longer accepted" in r.getMessage()]
    assert len(warned) == 3 and all("ErrorInvalidSyncStateData" in m for m in warned)  # each folder once
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.get(redis_keys.exchange_cursor(user.address, "contacts"))
    finally:
        await redis.aclose()


class CalendarBroken(ExchangeClient):
    """The real client, except that the calendar's SyncFolderItems always fails (while `broken` is set)."""

    broken = True
    failures = 0

    async def sync_page(self, mailbox: str, entity: str, *args: Any, **kwargs: Any) -> SyncPage:
        if entity == "appointment" and self.broken:
            self.failures += 1
            raise ExchangeError("ErrorInvalidPropertyRequest: the calendar cannot be read")
        return await super().sync_page(mailbox, entity, *args, **kwargs)


async def test_a_folder_that_keeps_failing_does_not_block_the_mailboxs_other_folders(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fieldsync.exchange_capture")
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    settings = capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address).model_copy(
        update={"exchange_capture_entities": ["appointment", "contact", "task"],
                "exchange_capture_backoff_max_s": 0.5}
    )  # the failing folder first: a round that stops at the first failure would never reach the others
    client, redis, producer = CalendarBroken(settings), Redis.from_url(redis_url), make_producer(settings)
    await producer.start()
    loop = build_loop(settings, client, redis, producer, None)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    match, parsed = events_of(reader, user.address)
    try:
        for entity, fields in (("contact", {"given_name": "Beside", "display_name": "Beside"}),
                               ("task", {"subject": "Beside a broken calendar"})):  # fmt: skip
            item = await user.create(entity, **fields)
            await reader.wait_for(lambda r, i=item: match(r) and parsed(r).exchange_id == i.id, what=entity)
        await eventually_async(lambda: _true(client.failures >= 3), what="the calendar retried with backoff")
        client.broken = False
        meeting = await user.create("appointment", subject="Once it works", start=EWSDateTime(2026, 12, 2, 9,
                                    tzinfo=EWS_UTC), end=EWSDateTime(2026, 12, 2, 10, tzinfo=EWS_UTC))  # fmt: skip
        await reader.wait_for(lambda r: match(r) and parsed(r).exchange_id == meeting.id, what="the calendar")
        await eventually_async(lambda: _true(any("recovered" in r.getMessage() for r in caplog.records)),
                               what="the recovery line")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=15)
        await producer.stop()
        await client.close()
        await redis.aclose()
    backoffs = [r.getMessage() for r in caplog.records if "backing off" in r.getMessage()]
    assert len(backoffs) == 1 and f"{user.address} calendar failed" in backoffs[0]  # once per streak


async def _true(value: bool) -> bool:
    return value
