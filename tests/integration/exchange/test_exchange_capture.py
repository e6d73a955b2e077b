"""exchange_capture over the EWS sandbox, the real broker and Redis: creates, updates, deletes, restarts, echoes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from exchangelib import EWSDateTime
from exchangelib.ewsdatetime import UTC as EWS_UTC
from exchangelib.indexed_properties import PhoneNumber
from pydantic import SecretStr
from redis.asyncio import Redis

from infra.sandbox.crm.app import APPLICATION_USER
from infra.sandbox.crm.server import serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.exchange.server import ExchangeSandboxUrls
from services.exchange_capture.main import build_loop, mailbox_source, run
from services.exchange_capture.settings import ExchangeCaptureSettings
from shared import topics
from shared.crm.client import CrmClient
from shared.events import ItemChanged
from shared.exchange.client import ExchangeClient
from shared.exchange.properties import register_extended_properties
from shared.exchange.state import ExchangeState
from shared.kafka import make_producer
from shared.mailbox_health import MailboxHealthStore
from shared.settings import SANDBOX_CRM_SECRET
from tests.integration.exchange.conftest import UserMailbox
from tests.integration.harness import run_service, stop_service

pytestmark = pytest.mark.integration


def capture_settings(urls: ExchangeSandboxUrls, bootstrap: str, redis_url: str, mailbox: str) -> Any:
    return ExchangeCaptureSettings(
        bootstrap_servers=bootstrap,
        redis_url=redis_url,
        ews_url=urls.ews_url,
        mailboxes=mailbox,
        exchange_capture_poll_interval_s=0.05,
    )


def events_of(reader: Any, mailbox: str, exchange_id: str | None = None) -> Any:
    def parsed(record: Any) -> ItemChanged:
        return ItemChanged.model_validate_json(record.value)

    def match(record: Any) -> bool:
        try:
            event = parsed(record)
        except ValueError:  # pydantic's ValidationError: an invalid payload another module's test sent
            return False
        return event.mailbox == mailbox and (exchange_id is None or event.exchange_id == exchange_id)

    return match, parsed


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "contact",
        {"given_name": "Ada", "surname": "Byron", "display_name": "Ada Byron", "job_title": "Engineer",
         "phone_numbers": [PhoneNumber(label="BusinessPhone", phone_number="+1 555 0100")]},
        {"job_title": "Principal"},
        {"jobtitle": "Principal"},
    ),
    (
        "appointment",
        {"subject": "Review", "location": "Room 1", "start": EWSDateTime(2026, 12, 1, 10, 0, tzinfo=EWS_UTC),
         "end": EWSDateTime(2026, 12, 1, 11, 0, tzinfo=EWS_UTC)},
        {"location": "Room 2"},
        {"location": "Room 2"},
    ),
    ("task", {"subject": "Call back", "percent_complete": Decimal(10)}, {"subject": "Call back today"},
     {"subject": "Call back today"}),
]


@pytest.mark.parametrize(("entity", "initial", "edit", "expected_update"), CASES)
async def test_create_update_delete_are_captured_with_only_changed_fields(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    exchange_state: ExchangeState, entity: str, initial: dict[str, Any], edit: dict[str, Any],
    expected_update: dict[str, Any],
) -> None:
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    task, stop = await run_service(run, capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address))
    try:
        item = await user.create(entity, **initial)
        match, parsed = events_of(reader, user.address, item.id)
        [created] = await reader.wait_for(match, what=f"{entity} create")
        event = parsed(created)
        assert event.op == "create" and event.entity == entity and event.crm_id is None
        assert event.version == item.changekey and "categories" in event.context
        if entity == "contact":
            assert event.changed["telephone1"] == "+1 555 0100"
            assert event.changed["fullname"] == {"firstname": "Ada", "middlename": None, "lastname": "Byron"}
        if entity == "appointment":
            assert event.context["is_organizer"] is True
            assert event.changed["appointment_time"]["scheduledstart"] == "2026-12-01T10:00:00Z"

        await user.update(item, **edit)
        updates = await reader.wait_for(lambda r: match(r) and parsed(r).op == "update", what="update")
        assert [parsed(r).changed for r in updates] == [expected_update]

        await user.delete(item)
        [deleted] = await reader.wait_for(lambda r: match(r) and parsed(r).op == "delete", what="delete")
        assert parsed(deleted).changed == {}
        assert await exchange_state.snapshot(user.address, item.id) is None
    finally:
        await stop_service(task, stop)


async def test_linked_item_events_carry_the_crm_id(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    exchange_state: ExchangeState,
) -> None:
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    item = await user.create("task", subject="Linked")
    await exchange_state.link("task", "crm-task-1", user.address, item.id)
    task, stop = await run_service(run, capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address))
    try:
        match, parsed = events_of(reader, user.address, item.id)
        [created] = await reader.wait_for(match, what="linked create")
        assert parsed(created).crm_id == "crm-task-1"
    finally:
        await stop_service(task, stop)


async def test_sync_state_survives_a_restart_without_duplicates_or_loss(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any
) -> None:
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    settings = capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address)
    match, parsed = events_of(reader, user.address)
    first = await user.create("contact", given_name="First", display_name="First")
    task, stop = await run_service(run, settings)
    await reader.wait_for(lambda r: match(r) and parsed(r).exchange_id == first.id, what="first create")
    await stop_service(task, stop)

    second = await user.create("contact", given_name="Second", display_name="Second")  # while capture is down
    await user.update(first, job_title="Changed while down")
    task, stop = await run_service(run, settings)
    try:
        await reader.wait_for(lambda r: match(r) and parsed(r).exchange_id == second.id, what="second create")
        await reader.wait_for(lambda r: match(r) and parsed(r).op == "update", what="update while down")
        # a marker made after the restart: once it is seen, everything before it has been read
        marker = await user.create("contact", given_name="Marker", display_name="Marker")
        await reader.wait_for(lambda r: match(r) and parsed(r).exchange_id == marker.id, what="marker")
    finally:
        await stop_service(task, stop)
    seen = [(parsed(r).exchange_id, parsed(r).op) for r in reader.matching(match)]
    assert sorted(seen) == sorted(
        [(first.id, "create"), (second.id, "create"), (first.id, "update"), (marker.id, "create")]
    )
    update = next(parsed(r) for r in reader.matching(match) if parsed(r).op == "update")
    assert update.changed == {"jobtitle": "Changed while down"}
    assert update.occurred_at <= datetime.now(UTC)


async def test_an_item_at_the_changekey_its_snapshot_holds_is_not_fetched_again(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    exchange_state: ExchangeState,
) -> None:
    """An applier write made against the snapshot's own ChangeKey (exact) makes the capture skip the item. The
    test records such a write with a value the item does not hold: a fetch would report the difference."""
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    settings = capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address)
    match, parsed = events_of(reader, user.address)
    ours = await user.create("contact", given_name="Ours", display_name="Ours", job_title="Written")
    theirs = await user.create("contact", given_name="Theirs", display_name="Theirs")
    task, stop = await run_service(run, settings)
    await reader.wait_for(lambda r: match(r) and parsed(r).exchange_id == theirs.id, what="creates")
    await stop_service(task, stop)

    await user.update(ours, job_title="Written by fieldsync")  # as the applier would, while the capture is down
    await exchange_state.record_write(user.address, ours.id, entity="contact", crm_id=None, replace_snapshot=False,
                                      written={"jobtitle": "not what the item holds"}, version=ours.changekey,
                                      exact=True)  # fmt: skip
    await user.update(theirs, job_title="Edited in Outlook")  # in the same folder: the same sync page
    task, stop = await run_service(run, settings)
    try:
        await reader.wait_for(lambda r: match(r) and parsed(r).op == "update", what="the other item's update")
    finally:
        await stop_service(task, stop)
    updates = [(parsed(r).exchange_id, parsed(r).changed) for r in reader.matching(match) if parsed(r).op == "update"]
    assert updates == [(theirs.id, {"jobtitle": "Edited in Outlook"})]


async def test_a_change_under_an_appliers_write_over_a_fresh_read_is_still_captured(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    exchange_state: ExchangeState,
) -> None:
    """The user edits an item; before the capture sees it, the applier reads the item and writes another field
    (not exact: the snapshot lacks the user's edit). The item's ChangeKey is the applier's, yet the capture
    must fetch it and report the user's edit."""
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    settings = capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address)
    match, parsed = events_of(reader, user.address)
    item = await user.create("contact", given_name="Both", display_name="Both", department="Sales")
    task, stop = await run_service(run, settings)
    await reader.wait_for(lambda r: match(r) and parsed(r).exchange_id == item.id, what="create")
    await stop_service(task, stop)

    await user.update(item, department="Support")  # the user's edit, not captured yet
    await user.update(item, job_title="From CRM")  # the applier's write after reading the item
    await exchange_state.record_write(user.address, item.id, entity="contact", crm_id=None, replace_snapshot=False,
                                      written={"jobtitle": "From CRM"}, version=item.changekey)  # fmt: skip
    task, stop = await run_service(run, settings)
    try:
        [update] = await reader.wait_for(lambda r: match(r) and parsed(r).op == "update", what="the user's edit")
    finally:
        await stop_service(task, stop)
    assert parsed(update).changed == {"department": "Support"}  # the applier's own field is its echo


async def test_without_configured_mailboxes_they_come_from_crm_systemusers(tmp_path: Path) -> None:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as urls:
        async with CrmClient(urls.api_url, urls.token_url, "fieldsync", SecretStr(SANDBOX_CRM_SECRET)) as crm:
            suffix = uuid.uuid4().hex[:8]
            for name, disabled in (("on", False), ("off", True)):
                email = f"{name}-{suffix}@sandbox.local"
                await crm.create("systemusers", {"firstname": name, "lastname": "User", "domainname": email,
                                                 "internalemailaddress": email.upper(), "isdisabled": disabled})
            mailboxes = await mailbox_source(ExchangeCaptureSettings(mailboxes=""), crm)()
    assert f"on-{suffix}@sandbox.local" in mailboxes and f"off-{suffix}@sandbox.local" not in mailboxes
    # fieldsync's own application user (WhoAmI) is an enabled systemuser with an address but no mailbox.
    assert f"{APPLICATION_USER}@sandbox.local" not in mailboxes


async def test_an_address_without_a_mailbox_is_logged_once_skipped_and_never_blocks_the_others(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fieldsync.exchange_capture")
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@sandbox.local"
    settings = capture_settings(ews_sandbox, kafka_bootstrap, redis_url, f"{nobody},{user.address}")
    settings.exchange_capture_mailbox_refresh_s = 0.1
    client, redis, producer = ExchangeClient(settings), Redis.from_url(redis_url), make_producer(settings)
    await producer.start()
    loop = build_loop(settings, client, redis, producer, None)
    refreshes: list[None] = []
    refreshed_often = asyncio.Event()

    async def counted() -> list[str]:
        refreshes.append(None)
        if len(refreshes) >= 5:  # each refresh tries the address again: it must stay quiet
            refreshed_often.set()
        return [nobody, user.address]

    loop.mailboxes = counted
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        item = await user.create("task", subject="Next to a missing mailbox")
        match, _ = events_of(reader, user.address, item.id)
        await reader.wait_for(match, what="the real mailbox's create")
        await asyncio.wait_for(refreshed_often.wait(), timeout=10)
        # Reported, never disabled: the address's folder stays listed with its error, and the real mailbox is fine.
        health = {m.mailbox: m for m in await MailboxHealthStore(redis).mailboxes()}
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await producer.stop()
        await client.close()
        await redis.aclose()
    [missing] = health[nobody].folders
    assert (missing.error, missing.last_success) == ("no_mailbox", None) and missing.failures >= 2  # tried again
    assert {f.folder for f in health[user.address].folders} == {"contacts", "calendar", "tasks"}
    assert not health[user.address].failing and all(f.last_success for f in health[user.address].folders)
    assert loop.metrics.value("fieldsync_mailbox_failing", error="no_mailbox") == 1
    assert loop.metrics.value("fieldsync_capture_cursor_age_seconds", source="exchange", mailbox=user.address,
                              folder="tasks") >= 0  # fmt: skip
    about_nobody = [r for r in caplog.records if nobody in r.getMessage()]
    assert [r.levelno for r in about_nobody] == [logging.WARNING], [r.getMessage() for r in about_nobody]
    assert "has no mailbox" in about_nobody[0].getMessage()
    assert not [r for r in caplog.records if "poll of" in r.getMessage()]  # no backoff streak for it

async def test_runs_as_a_module_and_stops_cleanly_on_sigterm(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any
) -> None:
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    env = {**os.environ, "FIELDSYNC_BOOTSTRAP_SERVERS": kafka_bootstrap, "FIELDSYNC_REDIS_URL": redis_url,
           "FIELDSYNC_EWS_URL": ews_sandbox.ews_url, "FIELDSYNC_MAILBOXES": user.address,
           "FIELDSYNC_EXCHANGE_CAPTURE_POLL_INTERVAL_S": "0.05"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.exchange_capture", env=env)
    try:
        item = await user.create("task", subject="Seen by the service")
        match, _ = events_of(reader, user.address, item.id)
        await reader.wait_for(match, timeout=30, what="the service's capture")
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    assert code == 0


async def test_an_item_the_applier_is_still_creating_is_not_captured_as_made_in_outlook(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, user: UserMailbox, read_topic: Any,
    exchange_state: ExchangeState,
) -> None:
    """The exchange_applier's create reached EWS, its record of the item not yet: a capture reporting the item as
    a tracked one made in Outlook made a second CRM record linked to it. An item carrying a marker that is no
    longer pending (a copy the user made of a fieldsync item) is a new item like any other."""
    register_extended_properties()
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    pending, copied = f"pending-{uuid.uuid4()}", f"recorded-{uuid.uuid4()}"
    await exchange_state.announce_create(user.address, pending)
    task, stop = await run_service(run, capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address))
    try:
        ours = await user.create("task", subject="Being created", fieldsync_id=pending)
        copy = await user.create("task", subject="Copied in Outlook", fieldsync_id=copied)
        match_copy, parsed = events_of(reader, user.address, copy.id)
        [created] = await reader.wait_for(match_copy, what="the copy's create")
        assert parsed(created).op == "create"
        match_ours, _ = events_of(reader, user.address, ours.id)
        assert reader.matching(match_ours) == []  # created before the copy, polled with it or before it
    finally:
        await stop_service(task, stop)
