"""Appointment files on the CRM side, over the real broker, real Redis and the sandbox: crm_capture follows
activitymimeattachments and reports an appointment's files (their bytes relayed by digest), crm_applier makes an
appointment hold the files a delta wants, as the delta's user, and dead-letters a file over the size cap."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from infra.sandbox.crm.server import CrmSandboxUrls
from services.crm_applier.settings import CrmApplierSettings
from shared import topics
from shared.attachment_store import AttachmentStore
from shared.attachments import digest, entry
from shared.crm.attachments import CrmAttachments
from shared.crm.client import CrmClient
from shared.events import ItemChanged
from shared.kafka import encode
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import capture_settings, make_delta, result_of, start_capture
from tests.integration.harness import stop_service

pytestmark = pytest.mark.integration


async def appointment(user: CrmUser) -> str:
    row = await user.client.create("appointments", {"subject": f"Files {uuid.uuid4().hex[:6]}",
                                                    "scheduledstart": "2030-01-02T09:00:00Z",
                                                    "scheduledend": "2030-01-02T10:00:00Z"})  # fmt: skip
    return str(row["activityid"])


async def reported(reader: Any, crm_id: str, files: Any) -> ItemChanged:
    """The first event of the appointment that reports exactly these files."""
    key = topics.crm_item_key("appointment", crm_id).encode()

    def says(record: Any) -> bool:
        changed = ItemChanged.model_validate_json(record.value).changed
        return record.key == key and "attachments" in changed and changed["attachments"] == files

    [record] = await reader.wait_for(says, what=f"an event with the files {files}")
    return ItemChanged.model_validate_json(record.value)


async def test_the_capture_reports_an_appointments_files_and_relays_their_bytes(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, kafka_bootstrap: str, redis_url: str, read_topic: Any
) -> None:
    reader = await read_topic(topics.CRM_CHANGES.full_name)
    settings = capture_settings(crm_sandbox, kafka_bootstrap, redis_url)
    settings = settings.model_copy(update={"crm_capture_entities": ["contact", "appointment"]})
    service = await start_capture(settings)
    redis = Redis.from_url(redis_url)
    try:
        crm_id = await appointment(crm_user)
        files = CrmAttachments(crm_user.client)
        content = b"\x00agenda\xff" + uuid.uuid4().bytes
        attachment_id = await files.add(crm_id, "agenda.bin", "application/octet-stream", content, caller_id=None)
        wanted = [entry("agenda.bin", "application/octet-stream", len(content), digest(content))]
        await reported(reader, crm_id, wanted)
        assert await AttachmentStore(redis, settings.attachment_max_bytes).get(digest(content)) == content

        await files.remove(attachment_id, caller_id=None)
        await reported(reader, crm_id, None)
        # The appointment's row did not change: only the attachments pair is in the events that report files.
        key = topics.crm_item_key("appointment", crm_id).encode()
        updates = [ItemChanged.model_validate_json(r.value) for r in reader.matching(lambda r: r.key == key)][1:]
        assert updates and all(set(u.changed) == {"attachments"} for u in updates)
    finally:
        await stop_service(*service)
        await redis.aclose()


async def test_the_applier_makes_the_appointment_hold_the_wanted_files_as_the_user(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer,
    read_topic: Any, redis_url: str,
) -> None:  # fmt: skip
    applied = await read_topic(topics.APPLIED.full_name)
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    crm_id = await appointment(crm_user)
    files = CrmAttachments(crm_client)
    stale = await files.add(crm_id, "old.txt", "text/plain", b"old", caller_id=crm_user.id)
    redis = Redis.from_url(redis_url)
    store = AttachmentStore(redis, applier.attachment_max_bytes)
    content = uuid.uuid4().bytes * 3
    sha = await store.put(content)
    wanted = [entry("new.bin", "application/octet-stream", len(content), sha)]

    async def send(changed: dict[str, Any]) -> Any:
        delta = make_delta(entity="appointment", crm_id=crm_id, changed=changed, acting_user=crm_user.id)
        await producer.send_and_wait(topics.DELTAS_CRM.full_name, encode(delta), key=f"appointment:{crm_id}".encode())
        return delta

    try:
        delta = await send({"attachments": wanted, "location": "Room 7"})
        [result] = await result_of(applied, delta)
        assert result.result == "applied" and result.changed["attachments"] == wanted
        held = await files.of(crm_id)
        assert [(f.name, f.size) for f in held] == [("new.bin", len(content))]
        assert await files.content(held[0].attachment_id) == content
        assert stale not in {f.attachment_id for f in held}
        assert (await crm_client.get("appointments", crm_id))["location"] == "Room 7"

        big = entry("huge.iso", "application/octet-stream", applier.attachment_max_bytes + 1, "b" * 64)
        delta = await send({"attachments": [*wanted, big]})
        [failed] = await result_of(applied, delta)
        assert failed.result == "failed" and "huge.iso" in str(failed.error) and "size cap" in str(failed.error)
        [letter] = await deadletter.wait_for(lambda r: r.key == f"appointment:{crm_id}".encode())
        assert [(f.name) for f in await files.of(crm_id)] == ["new.bin"]  # the fitting file is kept
        assert letter.value == encode(delta)
    finally:
        await redis.aclose()
