"""crm_capture end to end on the CRM side: sandbox over HTTP -> real broker, cursor and snapshots in real Redis."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from infra.sandbox.crm.server import CrmSandboxUrls
from services.crm_capture.loop import CaptureLoop
from services.crm_capture.owners import OwnerMailboxes
from shared import topics
from shared.catalogue import load_catalogue
from shared.crm.client import ChangePage, CrmClient
from shared.crm.snapshot import snapshot_of
from shared.crm.state import CrmState
from shared.events import ItemChanged
from shared.kafka import make_producer
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import capture_settings, events_for, start_capture, wait_events
from tests.integration.harness import set_faults, stop_service
from tests.support import eventually_async

pytestmark = pytest.mark.integration


async def test_create_update_delete_become_the_right_events(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, kafka_bootstrap: str, redis_url: str, read_topic: Any
) -> None:
    reader = await read_topic(topics.CRM_CHANGES.full_name)
    service = await start_capture(capture_settings(crm_sandbox, kafka_bootstrap, redis_url))
    try:
        row = await crm_user.client.create("contacts", {"firstname": "Ada", "lastname": "Lovelace", "jobtitle": "A"})
        crm_id = row["contactid"]
        [created] = await wait_events(reader, crm_id, 1)
        assert created.op == "create" and created.origin == "user"
        assert created.changed["fullname"] == {"firstname": "Ada", "middlename": None, "lastname": "Lovelace"}
        assert created.changed["jobtitle"] == "A" and "address1_composite" in created.changed
        attributes = created.context.pop("attributes")
        assert created.context == {"ownerid": crm_user.id, "owner_mailbox": crm_user.email, "statecode": 0}
        # The row's attributes for the sync filters: Web API names, no annotations.
        assert attributes["contactid"] == crm_id and attributes["jobtitle"] == "A" and attributes["statecode"] == 0
        assert attributes["_ownerid_value"] == crm_user.id and not [key for key in attributes if "@" in key]
        assert created.version == str(row["versionnumber"])

        await crm_user.client.update("contacts", crm_id, {"jobtitle": "B", "address1_city": "London"})
        updated = (await wait_events(reader, crm_id, 2))[1]
        assert updated.op == "update"
        assert set(updated.changed) == {"jobtitle", "address1_composite"}
        assert updated.changed["address1_composite"]["address1_city"] == "London"

        await crm_user.client.delete("contacts", crm_id)
        deleted = (await wait_events(reader, crm_id, 3))[2]
        assert deleted.op == "delete" and deleted.changed == {}
        assert deleted.context["owner_mailbox"] == crm_user.email
    finally:
        await stop_service(*service)


async def test_cursor_survives_a_restart_without_duplicates_or_loss(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, kafka_bootstrap: str, redis_url: str, read_topic: Any
) -> None:
    reader = await read_topic(topics.CRM_CHANGES.full_name)
    settings = capture_settings(crm_sandbox, kafka_bootstrap, redis_url)
    service = await start_capture(settings)
    crm_id = (await crm_user.client.create("contacts", {"lastname": "Restart"}))["contactid"]
    await wait_events(reader, crm_id, 1)
    await stop_service(*service)

    await crm_user.client.update("contacts", crm_id, {"nickname": "while stopped"})
    service = await start_capture(settings)
    try:
        await wait_events(reader, crm_id, 2)
        await crm_user.client.update("contacts", crm_id, {"jobtitle": "marker"})
        events = await wait_events(reader, crm_id, 3)
        # the marker arrived last: nothing was sent twice and nothing was lost in between
        assert [(e.op, set(e.changed)) for e in events[1:]] == [("update", {"nickname"}), ("update", {"jobtitle"})]
        assert len(events_for(reader, crm_id)) == 3
    finally:
        await stop_service(*service)


async def test_a_task_state_change_sends_the_whole_record(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, kafka_bootstrap: str, redis_url: str, read_topic: Any
) -> None:
    reader = await read_topic(topics.CRM_CHANGES.full_name)
    service = await start_capture(capture_settings(crm_sandbox, kafka_bootstrap, redis_url))
    try:
        row = await crm_user.client.create("tasks", {"subject": "Call", "scheduledend": "2026-12-01T09:00:00Z"})
        task_id = row["activityid"]
        key = topics.crm_item_key("task", task_id).encode()
        await reader.wait_for(lambda r: r.key == key, what="the task's create")
        await crm_user.client.update("tasks", task_id, {"statecode": 1, "statuscode": 5})
        records = await reader.wait_for(lambda r: r.key == key, count=2, what="the task's completion")
        done = ItemChanged.model_validate_json(records[1].value)
        assert done.changed["status"] == {"statecode": 1, "statuscode": 5}
        assert done.changed["scheduledend"] == "2026-12-01T09:00:00Z"
        assert set(done.changed) == {p.key for p in load_catalogue().entities["task"].fields if p.crm_attributes}
        assert done.context["statecode"] == 1
    finally:
        await stop_service(*service)


async def test_capture_backs_off_while_the_crm_fails_and_catches_up(
    crm_sandbox: CrmSandboxUrls,
    crm_user: CrmUser,
    kafka_bootstrap: str,
    redis_url: str,
    read_topic: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fieldsync.crm_capture")
    reader = await read_topic(topics.CRM_CHANGES.full_name)
    settings = capture_settings(crm_sandbox, kafka_bootstrap, redis_url).model_copy(
        update={"crm_capture_backoff_max_s": 0.2}
    )
    service = await start_capture(settings)

    def messages(text: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if text in r.getMessage()]

    try:
        set_faults(crm_sandbox, unavailable_ratio=1.0, retry_after_s=0)
        await eventually_async(lambda: _true(messages("backing off")), timeout=20, what="a failed poll")
        set_faults(crm_sandbox)
        crm_id = (await crm_user.client.create("contacts", {"lastname": "Outage"}))["contactid"]
        [event] = await wait_events(reader, crm_id, 1)
        assert event.op == "create"
        for entity in settings.crm_capture_entities:  # logged once per streak of failures, per entity
            assert len([m for m in messages("backing off") if f"poll of {entity} failed" in m]) <= 1
        await eventually_async(lambda: _true(messages("recovered")), what="the recovery line")
    finally:
        set_faults(crm_sandbox)
        await stop_service(*service)


async def _true(value: list[str]) -> bool:
    return bool(value)


async def test_a_row_read_before_an_applier_write_is_not_reported_as_changed_back(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, crm_client: CrmClient, kafka_bootstrap: str, redis_url: str
) -> None:
    """The capture read a page; then the crm_applier wrote jobtitle and recorded its snapshot (a newer version).
    Diffing the page's older row against that snapshot reported fieldsync's value as changed back to the old
    one by a person. The row is skipped and nothing stored: the write is after the page's delta token, so the
    next poll returns the row at its new version."""
    spec = load_catalogue().entities["contact"]
    old = await crm_user.client.create("contacts", {"lastname": "Race", "jobtitle": "A"})
    crm_id = old["contactid"]
    written = await crm_client.update("contacts", crm_id, {"jobtitle": "Fieldsync"})
    redis = Redis.from_url(redis_url)
    producer = make_producer(capture_settings(crm_sandbox, kafka_bootstrap, redis_url))
    await producer.start()
    try:
        state = CrmState(redis)
        snapshot = {**snapshot_of(spec, written, crm_user.email), "@exact": str(old["versionnumber"])}
        await state.store_snapshot("contact", crm_id, snapshot)
        loop = CaptureLoop(crm_client, state, producer, OwnerMailboxes(crm_client), [spec])
        page = ChangePage(rows=[old], delta_link="unused")
        assert await loop.publish(spec, page, None) == 0
        assert await state.snapshot("contact", crm_id) == snapshot
        assert await loop.publish(spec, ChangePage(rows=[written], delta_link="unused"), None) == 0
    finally:
        await producer.stop()
        await redis.aclose()
