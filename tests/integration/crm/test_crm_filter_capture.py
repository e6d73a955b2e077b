"""crm_capture's sync filters over the real broker, real Redis and the sandbox: a user with a mailbox gets the
default templates copied into their userqueries once, published in a security round; a new filter refreshes
exactly the records it moves into the user's scope, with their attributes."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from shared import redis_keys, topics
from shared.crm.client import CrmClient
from shared.events import ItemChanged, SecurityChanged
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import capture_settings, events_for, start_capture, wait_events
from tests.integration.crm.test_crm_security_capture import settle_snapshot
from tests.integration.harness import stop_service
from tests.security_rows import fetch

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(crm_sandbox: Any, kafka_bootstrap: str, redis_url: str) -> Any:
    return capture_settings(crm_sandbox, kafka_bootstrap, redis_url).model_copy(
        update={"crm_capture_security_interval_s": 0.1}
    )


def filter_row(record: Any, owner: str) -> SecurityChanged | None:
    event = SecurityChanged.model_validate_json(record.value)
    mine = event.table == "userqueries" and str(event.row.get("_ownerid_value")).lower() == owner
    return event if mine else None


def filter_rows(reader: Any, owner: str) -> list[SecurityChanged]:
    return [e for r in reader.records if (e := filter_row(r, owner)) is not None]


async def test_templates_are_copied_once_and_a_new_filter_refreshes_only_the_records_it_takes_in(
    settings: Any, crm_user: CrmUser, crm_client: CrmClient, read_topic: Any
) -> None:
    security = await read_topic(topics.CRM_SECURITY.full_name)
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    me = crm_user.id.lower()
    service = await start_capture(settings)
    redis = Redis.from_url(settings.redis_url)
    try:
        # One record at a time: the session's security topic holds every earlier test's rounds.
        def copied(record: Any) -> bool:
            event = filter_row(record, me)
            return event is not None and event.row["name"] == "My Active Contacts"

        await security.wait_for(copied, timeout=60, what="the user's copied templates")
        assert all(e.row["querytype"] == 256 for e in filter_rows(security, me))
        assert await redis.sismember(redis_keys.CAPTURE_TEMPLATED_USERS, me)

        buyer = (await crm_user.client.create("contacts", {"lastname": "Buyer", "jobtitle": "Buyer"}))["contactid"]
        clerk = (await crm_user.client.create("contacts", {"lastname": "Clerk", "jobtitle": "Clerk"}))["contactid"]
        for crm_id in (buyer, clerk):
            [created] = await wait_events(changes, crm_id, 1)
            assert created.context["attributes"]["jobtitle"] in ("Buyer", "Clerk")
            await settle_snapshot(settings.redis_url, "contact", crm_id)
        # Disable the copied contact template first: then a Buyers filter takes in the buyer only.
        [mine] = [e for e in filter_rows(security, me) if e.row["name"] == "My Active Contacts"]
        # (an administrator's writes: the fixture's Salesperson role holds no UserQuery privileges)
        await crm_client.update("userqueries", mine.principal, {"statecode": 1, "statuscode": 2})
        await changes.wait_for(lambda r: (e := ItemChanged.model_validate_json(r.value)).context.get("refresh")
                               and e.crm_id == buyer, what="both leave with the template")  # fmt: skip
        await changes.wait_for(lambda r: (e := ItemChanged.model_validate_json(r.value)).context.get("refresh")
                               and e.crm_id == clerk, what="both leave with the template")  # fmt: skip
        before = {crm_id: len(events_for(changes, crm_id)) for crm_id in (buyer, clerk)}

        await crm_client.create("userqueries", {
            "name": "Buyers", "querytype": 256, "returnedtypecode": "contact",
            "fetchxml": fetch("contact", ("jobtitle", "eq", "Buyer")), "ownerid@odata.bind": f"/systemusers({me})",
        })  # fmt: skip
        refresh = (await wait_events(changes, buyer, before[buyer] + 1))[-1]
        assert refresh.context["refresh"] and refresh.context["attributes"]["jobtitle"] == "Buyer"
        await crm_user.client.update("contacts", clerk, {"nickname": "marker"})  # after any refresh of it
        events = await wait_events(changes, clerk, before[clerk] + 1)
        assert [(e.op, set(e.changed)) for e in events[before[clerk]:]] == [("update", {"nickname"})]
    finally:
        await redis.aclose()
        await stop_service(*service)
