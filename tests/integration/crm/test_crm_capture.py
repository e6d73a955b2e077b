"""crm_capture end to end on the CRM side: sandbox over HTTP -> real broker, cursor and snapshots in real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from infra.sandbox.crm.server import CrmSandboxUrls
from shared import topics
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import capture_settings, events_for, start_capture, stop_service, wait_events

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
        assert created.context == {"ownerid": crm_user.id, "owner_mailbox": crm_user.email, "statecode": 0}
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
