"""crm_capture's security rounds over the real broker, real Redis and the sandbox: a role or a share change is
published as a round on crm.security, then the records it may decide differently are refreshed on crm.changes;
a round without a change publishes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from infra.sandbox.crm.server import CrmSandboxUrls
from shared import redis_keys, topics
from shared.crm.client import CrmClient
from shared.events import ItemChanged, SecurityChanged
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import capture_settings, events_for, start_capture, wait_events
from tests.integration.harness import stop_service
from tests.support import eventually_async

pytestmark = pytest.mark.integration


def security_events(reader: Any, wanted: Any) -> list[tuple[Any, SecurityChanged]]:
    records = reader.matching(lambda r: wanted(SecurityChanged.model_validate_json(r.value)))
    return [(r, SecurityChanged.model_validate_json(r.value)) for r in records]


async def settle_snapshot(redis_url: str, entity: str, crm_id: str) -> None:
    """The capture stores a record's snapshot once its event was acked: a refresh needs the snapshot."""
    redis = Redis.from_url(redis_url)
    try:
        await eventually_async(lambda: redis.exists(redis_keys.crm_snapshot(entity, crm_id)), what="the snapshot")
    finally:
        await redis.aclose()


def refreshes(reader: Any, crm_id: str) -> list[ItemChanged]:
    return [e for e in events_for(reader, crm_id) if e.context.get("refresh")]


@pytest.fixture
def settings(crm_sandbox: CrmSandboxUrls, kafka_bootstrap: str, redis_url: str) -> Any:
    return capture_settings(crm_sandbox, kafka_bootstrap, redis_url).model_copy(
        update={"crm_capture_security_interval_s": 0.1}
    )


async def test_a_role_change_publishes_the_rows_of_a_round_then_refreshes_every_record(
    settings: Any, crm_user: CrmUser, crm_client: CrmClient, read_topic: Any
) -> None:
    security = await read_topic(topics.CRM_SECURITY.full_name)
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    service = await start_capture(settings)
    try:
        row = await crm_user.client.create("contacts", {"lastname": "Secured", "jobtitle": "Analyst"})
        crm_id = row["contactid"]
        await wait_events(changes, crm_id, 1)
        await settle_snapshot(settings.redis_url, "contact", crm_id)

        name = f"Role {uuid.uuid4().hex[:8]}"
        role = (await crm_client.create("roles", {"name": name}))["roleid"]
        await security.wait_for(
            lambda r: SecurityChanged.model_validate_json(r.value).principal == role, what="the role's row"
        )
        [(record, event)] = security_events(security, lambda e: e.principal == role)
        assert record.key == b"security"
        assert (event.table, event.deleted, event.row["name"], event.row["roleid"]) == ("roles", False, name, role)
        assert "@odata.etag" not in event.row
        number = event.round
        await security.wait_for(
            lambda r: (e := SecurityChanged.model_validate_json(r.value)).round == number and e.last_in_round
            and r.offset >= record.offset,
            what="the end of the round",
        )  # fmt: skip

        await changes.wait_for(
            lambda r: (e := ItemChanged.model_validate_json(r.value)).crm_id == crm_id
            and e.context.get("security_round") == number,
            what="the contact's refresh",
        )  # fmt: skip
        [refresh] = [e for e in refreshes(changes, crm_id) if e.context["security_round"] == number]
        assert refresh.op == "update" and refresh.context["refresh"] is True
        assert refresh.changed == refresh.previous and refresh.changed["jobtitle"] == "Analyst"
        created = events_for(changes, crm_id)[0]
        assert set(refresh.changed) == set(created.changed)  # every synced field
        keys = ("ownerid", "owner_mailbox", "statecode", "attributes")
        assert {k: refresh.context[k] for k in keys} == {k: created.context[k] for k in keys}
        assert refresh.version == created.version
        # The round was on the bus before the refresh was sent.
        [last] = [r for r, e in security_events(security, lambda e: e.round == number and e.last_in_round)
                  if r.offset >= record.offset]  # fmt: skip
        refresh_record = next(iter(changes.matching(lambda r: ItemChanged.model_validate_json(r.value) == refresh)))
        assert refresh_record.timestamp >= last.timestamp
    finally:
        await stop_service(*service)


async def test_a_share_refreshes_only_the_shared_record(
    settings: Any, crm_user: CrmUser, crm_client: CrmClient, read_topic: Any
) -> None:
    security = await read_topic(topics.CRM_SECURITY.full_name)
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    other = await crm_client.create("systemusers", {"firstname": "Other", "lastname": "User",
                                                    "internalemailaddress": f"o-{uuid.uuid4().hex[:8]}@sandbox.local"})
    service = await start_capture(settings)
    try:
        shared_id = (await crm_user.client.create("contacts", {"lastname": "Shared"}))["contactid"]
        kept_id = (await crm_user.client.create("contacts", {"lastname": "Kept"}))["contactid"]
        for crm_id in (shared_id, kept_id):
            await wait_events(changes, crm_id, 1)
            await settle_snapshot(settings.redis_url, "contact", crm_id)

        target = {"contactid": shared_id, "@odata.type": "Microsoft.Dynamics.CRM.contact"}
        principal = {"systemuserid": other["systemuserid"], "@odata.type": "Microsoft.Dynamics.CRM.systemuser"}
        await crm_client.request("POST", "GrantAccess", json={
            "Target": target, "PrincipalAccess": {"AccessMask": "ReadAccess", "Principal": principal},
        })  # fmt: skip
        await security.wait_for(
            lambda r: SecurityChanged.model_validate_json(r.value).row.get("objectid") == shared_id,
            what="the share's row",
        )
        [(_, share)] = security_events(security, lambda e: e.row.get("objectid") == shared_id)
        assert share.table == "principalobjectaccessset"
        assert (share.row["principalid"], share.row["accessrightsmask"]) == (other["systemuserid"], 1)
        await changes.wait_for(
            lambda r: ItemChanged.model_validate_json(r.value).context.get("security_round") == share.round
            and ItemChanged.model_validate_json(r.value).crm_id == shared_id,
            what="the shared contact's refresh",
        )

        redis = Redis.from_url(settings.redis_url)
        try:  # the round is stored once all its refreshes were acked
            rows = redis_keys.capture_security_rows("principalobjectaccessset")
            await eventually_async(lambda: redis.hexists(rows, share.principal), what="the round stored")
        finally:
            await redis.aclose()
        await crm_user.client.update("contacts", kept_id, {"nickname": "marker"})  # after any refresh of it
        events = await wait_events(changes, kept_id, 2)
        assert [(e.op, set(e.changed)) for e in events[1:]] == [("update", {"nickname"})]
        assert not refreshes(changes, kept_id)

        await crm_client.request("POST", "RevokeAccess", json={"Target": target, "Revokee": principal})
        await security.wait_for(
            lambda r: (e := SecurityChanged.model_validate_json(r.value)).principal == share.principal and e.deleted,
            what="the revoked share",
        )  # fmt: skip
        [(_, revoked)] = security_events(security, lambda e: e.principal == share.principal and e.deleted)
        assert revoked.row["objectid"] == shared_id  # the row as last seen
        await changes.wait_for(
            lambda r: ItemChanged.model_validate_json(r.value).context.get("security_round") == revoked.round
            and ItemChanged.model_validate_json(r.value).crm_id == shared_id,
            what="the refresh after the revoke",
        )
    finally:
        await stop_service(*service)


async def published(reader: Any) -> int:
    """How many records crm.security holds now: the high watermark a fetch reports (Tansu's ListOffsets can
    be behind, DESIGN 5), summed over its partitions."""
    for records in (await reader.consumer.getmany(timeout_ms=300)).values():
        reader.records.extend(records)
    return sum(reader.consumer.highwater(tp) or 0 for tp in reader.consumer.assignment())


async def test_a_round_without_a_change_publishes_nothing(
    settings: Any, crm_user: CrmUser, read_topic: Any
) -> None:
    security = await read_topic(topics.CRM_SECURITY.full_name)
    service = await start_capture(settings)
    redis = Redis.from_url(settings.redis_url)
    try:
        first = int(await redis.get(redis_keys.CAPTURE_SECURITY_ROUND) or 0)
        assert first >= 1  # the first round, before the record loop started, published every row
        await security.wait_for(
            lambda r: (e := SecurityChanged.model_validate_json(r.value)).principal == crm_user.id.lower()
            and e.table == "systemusers",
            what="the user in the first round",
        )  # fmt: skip
        await security.wait_for(
            lambda r: (e := SecurityChanged.model_validate_json(r.value)).round == first and e.last_in_round,
            what="the end of the first round",
        )  # fmt: skip
        before = await published(security)
        cursor = redis_keys.security_cursor("roles")
        seen = {await redis.get(cursor)}

        async def three_more_rounds() -> bool:  # each round stores a new delta link (its token holds the time)
            seen.add(await redis.get(cursor))
            return len(seen) >= 4

        await eventually_async(three_more_rounds, what="three more rounds")
        assert int(await redis.get(redis_keys.CAPTURE_SECURITY_ROUND) or 0) == first
        assert await published(security) == before
    finally:
        await redis.aclose()
        await stop_service(*service)


async def test_a_role_deleted_while_its_delta_link_expired_is_still_reported_deleted(
    settings: Any, crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, crm_client: CrmClient, read_topic: Any
) -> None:
    security = await read_topic(topics.CRM_SECURITY.full_name)
    service = await start_capture(settings)
    role = (await crm_client.create("roles", {"name": f"Short-lived {uuid.uuid4().hex[:8]}"}))["roleid"]
    await security.wait_for(
        lambda r: SecurityChanged.model_validate_json(r.value).principal == role, what="the role's row"
    )
    redis = Redis.from_url(settings.redis_url)
    try:  # stored: the round is over
        rows = redis_keys.capture_security_rows("roles")
        await eventually_async(lambda: redis.hexists(rows, role), what="the round stored")
    finally:
        await redis.aclose()
    await stop_service(*service)

    await crm_client.delete("roles", role)
    async with httpx.AsyncClient() as http:  # the tombstone is purged with the tokens
        (await http.post(crm_sandbox.expire_tracking_url)).raise_for_status()
    service = await start_capture(settings)
    try:
        await security.wait_for(
            lambda r: (e := SecurityChanged.model_validate_json(r.value)).principal == role and e.deleted,
            what="the role reported deleted",
        )  # fmt: skip
        [(_, gone)] = security_events(security, lambda e: e.principal == role and e.deleted)
        assert gone.table == "roles" and gone.row["roleid"] == role
    finally:
        await stop_service(*service)
