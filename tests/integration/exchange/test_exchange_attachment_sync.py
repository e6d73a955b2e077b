"""Appointment files on the Exchange side, over the EWS sandbox, the real broker and real Redis: exchange_capture
reports an item's file attachments (bytes relayed by digest) and not fieldsync's own; exchange_applier makes an item
hold the wanted files (Create/DeleteAttachment) and dead-letters a file over the size cap, keeping the rest."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from exchangelib import EWSDateTime, EWSTimeZone, FileAttachment
from redis.asyncio import Redis

from infra.sandbox.exchange.server import ExchangeSandboxUrls
from services.exchange_applier.settings import ExchangeApplierSettings
from services.exchange_capture.main import run as run_capture
from shared import topics
from shared.attachment_store import AttachmentStore
from shared.attachments import digest, entry
from shared.exchange.attachments import ExchangeAttachments
from shared.exchange.client import ExchangeClient
from shared.exchange.state import ExchangeState
from shared.settings import ExchangeSettings
from tests.integration.exchange.conftest import UserMailbox
from tests.integration.exchange.test_exchange_applier import (  # noqa: F401
    APPOINTMENT,
    applier,
    make_delta,
    result_for,
    send,
)
from tests.integration.exchange.test_exchange_capture import capture_settings, events_of
from tests.integration.harness import run_service, stop_service

pytestmark = pytest.mark.integration
CAP = ExchangeApplierSettings().attachment_max_bytes


def start_time() -> EWSDateTime:
    at = datetime.now(UTC) + timedelta(days=1)
    return EWSDateTime(at.year, at.month, at.day, 9, tzinfo=EWSTimeZone("UTC"))


async def test_the_capture_reports_an_items_files_with_their_digest(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, redis_url: str, read_topic: Any, user: UserMailbox
) -> None:
    reader = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    settings = capture_settings(ews_sandbox, kafka_bootstrap, redis_url, user.address)
    service = await run_service(run_capture, settings)
    redis = Redis.from_url(redis_url)
    try:
        start = start_time()
        item = await user.create("appointment", subject="With files", start=start, end=start + timedelta(hours=1))
        content = b"\x00minutes\xff" + uuid.uuid4().bytes
        await user.run(lambda: item.attach(FileAttachment(name="minutes.bin", content_type="application/x-bin",
                                                          content=content)))  # fmt: skip
        wanted = [entry("minutes.bin", "application/x-bin", len(content), digest(content))]
        match, parsed = events_of(reader, user.address, item.id)
        await reader.wait_for(lambda r: match(r) and parsed(r).changed.get("attachments") == wanted,
                              what="the file reported")  # fmt: skip
        assert await AttachmentStore(redis, CAP).get(digest(content)) == content
    finally:
        await stop_service(*service)
        await redis.aclose()


async def test_the_applier_makes_the_item_hold_the_wanted_files(
    applier: None, producer: AIOKafkaProducer, read_topic: Any, user: UserMailbox, module_redis_url: str,  # noqa: F811
    ews_sandbox: ExchangeSandboxUrls,
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    redis = Redis.from_url(module_redis_url)
    store = AttachmentStore(redis, CAP)
    ews = ExchangeClient(ExchangeSettings(ews_url=ews_sandbox.ews_url))
    files = ExchangeAttachments(ews)
    first, second = uuid.uuid4().bytes * 2, b"\x00" * 10 + uuid.uuid4().bytes
    wanted = [entry("a.bin", "application/octet-stream", len(first), await store.put(first)),
              entry("b.txt", "text/plain", len(second), await store.put(second))]  # fmt: skip
    try:
        create = make_delta(user.address, "appointment", {**APPOINTMENT, "attachments": wanted})
        await send(producer, create)
        [made] = await result_for(applied, create)
        assert made.result == "applied" and made.exchange_id and made.changed["attachments"] == wanted
        held = await files.list(user.address, made.exchange_id)
        assert sorted((f.name, f.size) for f in held) == [("a.bin", len(first)), ("b.txt", len(second))]
        by_name = {f.name: f.attachment_id for f in held}
        assert await files.content(user.address, by_name["b.txt"]) == second
        # The echo: what the applier wrote is recorded with the item's final ChangeKey.
        echo = await ExchangeState(redis).echo(user.address, made.exchange_id)
        assert echo is not None and echo.values["attachments"] == wanted and echo.version == made.written_version

        big = entry("huge.iso", "application/octet-stream", CAP + 1, "c" * 64)
        update = make_delta(user.address, "appointment", {"attachments": [wanted[1], big]}, op="update",
                            crm_id=create.crm_id)  # fmt: skip
        await send(producer, update)
        [failed] = await result_for(applied, update)
        assert failed.result == "failed" and "huge.iso" in str(failed.error)
        await deadletter.wait_for(lambda r: r.key == f"{user.address}:appointment:{create.crm_id}".encode())
        assert [f.name for f in await files.list(user.address, made.exchange_id)] == ["b.txt"]  # a.bin removed
    finally:
        await ews.close()
        await redis.aclose()
