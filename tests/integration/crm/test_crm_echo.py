"""Echo suppression across the CRM side: what crm_applier writes, crm_capture does not publish back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from infra.sandbox.crm.server import CrmSandboxUrls
from services.crm_applier.apply import counterpart_id
from services.crm_applier.settings import CrmApplierSettings
from shared import topics
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import (
    capture_settings,
    events_for,
    make_delta,
    result_of,
    send,
    start_capture,
    wait_events,
)
from tests.integration.harness import stop_service

pytestmark = pytest.mark.integration


async def test_applier_writes_are_not_captured(
    applier: CrmApplierSettings,
    producer: Any,
    crm_sandbox: CrmSandboxUrls,
    crm_user: CrmUser,
    kafka_bootstrap: str,
    read_topic: Any,
) -> None:
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    applied = await read_topic(topics.APPLIED.full_name)
    capture = await start_capture(capture_settings(crm_sandbox, kafka_bootstrap, applier.redis_url))
    try:
        # an update from Exchange to a record the capture knows
        crm_id = (await crm_user.client.create("contacts", {"lastname": "Known"}))["contactid"]
        await wait_events(changes, crm_id, 1)
        update = make_delta(crm_id=crm_id, changed={"jobtitle": "from exchange"})
        await send(producer, update)
        assert (await result_of(applied, update))[0].result == "applied"
        await crm_user.client.update("contacts", crm_id, {"nickname": "marker"})
        events = await wait_events(changes, crm_id, 2)
        assert set(events[1].changed) == {"nickname"}

        # a counterpart created from Exchange
        exchange_id = f"AAMk-{uuid.uuid4().hex}"
        create = make_delta(op="create", mailbox=crm_user.email, exchange_id=exchange_id, changed={"jobtitle": "new"})
        await send(producer, create)
        assert (await result_of(applied, create))[0].result == "applied"
        created_id = counterpart_id(crm_user.email, exchange_id)
        await crm_user.client.update("contacts", created_id, {"nickname": "marker"})
        [only] = await wait_events(changes, created_id, 1)
        assert (only.op, set(only.changed)) == ("update", {"nickname"})

        # the marker events arrived after the writes: nothing else was published for these records
        assert len(events_for(changes, crm_id)) == 2 and len(events_for(changes, created_id)) == 1
    finally:
        await stop_service(*capture)
