"""crm_capture recovers on its own: an expired delta link becomes a full read without duplicates or lost deletes,
and an entity that keeps failing does not keep the others from being captured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from infra.sandbox.crm.server import CrmSandboxUrls
from services.crm_capture.main import build_loop
from shared import redis_keys, topics
from shared.crm.client import ChangePage, CrmClient, CrmError
from shared.kafka import make_producer
from tests.integration.crm.conftest import FAST_RETRY, CrmUser
from tests.integration.crm.harness import capture_settings, events_for, service_log, start_capture, wait_events
from tests.integration.harness import stop_service
from tests.support import eventually_async

pytestmark = pytest.mark.integration


async def test_an_expired_delta_link_becomes_a_full_read_without_duplicates_or_lost_deletes(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, kafka_bootstrap: str, redis_url: str, read_topic: Any
) -> None:
    reader = await read_topic(topics.CRM_CHANGES.full_name)
    settings = capture_settings(crm_sandbox, kafka_bootstrap, redis_url)
    service = await start_capture(settings)
    ids = [(await crm_user.client.create("contacts", {"lastname": name}))["contactid"]
           for name in ("Kept", "Changed", "Doomed")]  # fmt: skip
    kept, changed, doomed = ids
    for crm_id in ids:
        await wait_events(reader, crm_id, 1)
    await stop_service(*service)

    # While capture is away, the link outlives Dynamics' retention: its tombstones are gone with it.
    await crm_user.client.update("contacts", changed, {"jobtitle": "while expired"})
    await crm_user.client.delete("contacts", doomed)
    added = (await crm_user.client.create("contacts", {"lastname": "Added"}))["contactid"]
    async with httpx.AsyncClient() as http:
        assert (await http.post(crm_sandbox.expire_tracking_url)).status_code == 200

    with service_log("crm_capture") as logged:
        service = await start_capture(settings)
        try:
            [_, update] = await wait_events(reader, changed, 2)
            [_, delete] = await wait_events(reader, doomed, 2)
            [create] = await wait_events(reader, added, 1)
            await crm_user.client.update("contacts", kept, {"nickname": "after"})  # the new link works
            [_, after] = await wait_events(reader, kept, 2)
        finally:
            await stop_service(*service)
    assert (update.op, set(update.changed)) == ("update", {"jobtitle"})  # a known row: no create, no echo
    assert (delete.op, delete.context["owner_mailbox"]) == ("delete", crm_user.email)  # from its snapshot
    assert create.op == "create" and (after.op, set(after.changed)) == ("update", {"nickname"})
    assert [len(events_for(reader, crm_id)) for crm_id in (kept, changed, doomed, added)] == [2, 2, 2, 1]
    assert any("delta link of contact is no longer accepted" in m and "0x80044352" in m for m in logged)
    redis = Redis.from_url(redis_url)
    try:
        assert not await redis.exists(redis_keys.crm_snapshot("contact", doomed))
        assert "$deltatoken=" in (await redis.get(redis_keys.crm_cursor("contact"))).decode()
    finally:
        await redis.aclose()


class TasksBroken(CrmClient):
    """The real client, except that reading the tasks' changes always fails (while `broken` is set)."""

    broken = True
    failures = 0

    async def changes(self, entity_set: str, *args: Any, **kwargs: Any) -> ChangePage:
        if entity_set == "tasks" and self.broken:
            self.failures += 1
            raise CrmError(400, "0x80060888", "Could not find a property named 'x' on type 'task'.")
        return await super().changes(entity_set, *args, **kwargs)


async def test_an_entity_that_keeps_failing_does_not_block_the_others(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, kafka_bootstrap: str, redis_url: str, read_topic: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fieldsync.crm_capture")  # the recovery line is INFO
    reader = await read_topic(topics.CRM_CHANGES.full_name)
    settings = capture_settings(crm_sandbox, kafka_bootstrap, redis_url).model_copy(
        update={"crm_capture_entities": ["task", "contact"], "crm_capture_backoff_max_s": 0.5}
    )  # the failing entity first: a round that stops at the first failure would never reach contacts
    client = TasksBroken(crm_sandbox.api_url, crm_sandbox.token_url, "fieldsync", settings.crm_client_secret,
                         retry=FAST_RETRY)  # fmt: skip
    redis, producer, stop = Redis.from_url(redis_url), make_producer(settings), asyncio.Event()
    await producer.start()
    loop = build_loop(settings, client, redis, producer)
    with service_log("crm_capture") as logged:
        task = asyncio.create_task(loop.run(stop))
        try:
            for name in ("First", "Second"):
                crm_id = (await crm_user.client.create("contacts", {"lastname": name}))["contactid"]
                [created] = await wait_events(reader, crm_id, 1)
                assert created.op == "create"
            await eventually_async(lambda: _true(client.failures >= 3), what="the tasks retried with backoff")
            assert [m for m in logged if "backing off" in m] == [m for m in logged if "poll of task failed" in m]
            assert len([m for m in logged if "backing off" in m]) == 1  # once per streak

            client.broken = False
            task_id = (await crm_user.client.create("tasks", {"subject": "Call"}))["activityid"]
            key = topics.crm_item_key("task", task_id).encode()
            await reader.wait_for(lambda r: r.key == key, what="the task once its entity recovered")
            await eventually_async(lambda: _true(any("recovered task" in m for m in logged)), what="recovery line")
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=15)
            await producer.stop()
            await client.aclose()
            await redis.aclose()


async def _true(value: bool) -> bool:
    return value
