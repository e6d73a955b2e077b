"""crm_applier over the real broker, real Redis and the sandbox: writes, replays, conflicts, links, dead letters."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from infra.sandbox.crm.server import CrmSandboxUrls
from services.crm_applier.apply import counterpart_id
from services.crm_applier.settings import CrmApplierSettings
from shared import redis_keys, topics
from shared.catalogue import load_catalogue
from shared.crm.client import CrmClient, NotFound
from shared.crm.snapshot import snapshot_of
from shared.crm.state import CrmState
from shared.kafka import ERROR_HEADER, encode
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import key_of, make_delta, result_of, send, service_log
from tests.integration.harness import set_faults
from tests.support import eventually_async

pytestmark = pytest.mark.integration
CONTACT = load_catalogue().entities["contact"]


async def test_a_delta_is_written_and_a_replay_changes_nothing(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    crm_id = (await crm_user.client.create("contacts", {"lastname": "Target"}))["contactid"]
    delta = make_delta(
        crm_id=crm_id,
        changed={"jobtitle": "Engineer", "fullname": {"firstname": "Ada", "middlename": None, "lastname": "Target"}},
    )
    await send(producer, delta)
    [first] = await result_of(applied, delta)
    assert first.result == "applied" and first.target == "crm"
    assert first.changed == {"jobtitle": "Engineer", "fullname": delta.changed["fullname"]}
    assert first.occurred_at == delta.occurred_at and first.decided_at == delta.decided_at
    assert first.applied_at >= delta.decided_at
    row = await crm_client.get("contacts", crm_id)
    assert (row["jobtitle"], row["firstname"]) == ("Engineer", "Ada")
    # Written as the fieldsync application user, not as the user who created the record.
    assert str(row["_modifiedby_value"]).lower() == await crm_client.who_am_i()
    assert str(row["_modifiedby_value"]).lower() != crm_user.id.lower()
    assert first.written_version == str(row["versionnumber"])

    await send(producer, delta)
    second = (await result_of(applied, delta, count=2))[1]
    assert second.result == "duplicate"
    assert (await crm_client.get("contacts", crm_id))["versionnumber"] == row["versionnumber"]


async def test_a_stale_etag_is_reread_and_a_field_changed_in_crm_meanwhile_is_superseded(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    """The merge point expected CRM to hold A/N; a person changed jobtitle to B meanwhile: that field is left for
    the merge point to decide (CRM's capture reports B), the other one is written."""
    applied = await read_topic(topics.APPLIED.full_name)
    row = await crm_user.client.create("contacts", {"lastname": "Race", "jobtitle": "A", "nickname": "N"})
    crm_id = row["contactid"]
    redis = Redis.from_url(applier.redis_url)
    try:  # what the capture last saw: version 1 of the row
        await CrmState(redis).store_snapshot("contact", crm_id, snapshot_of(CONTACT, row, crm_user.email))
    finally:
        await redis.aclose()
    await crm_user.client.update("contacts", crm_id, {"jobtitle": "B"})  # the etag we hold is stale now

    guarded = make_delta(
        crm_id=crm_id, changed={"jobtitle": "E", "nickname": "EN"}, expected={"jobtitle": "A", "nickname": "N"}
    )
    await send(producer, guarded)
    [outcome] = await result_of(applied, guarded)
    assert outcome.result == "superseded" and outcome.changed == {"nickname": "EN"}
    assert "jobtitle" in (outcome.error or "")
    row = await crm_client.get("contacts", crm_id)
    assert (row["jobtitle"], row["nickname"]) == ("B", "EN")

    await crm_user.client.update("contacts", crm_id, {"jobtitle": "C"})
    current = make_delta(crm_id=crm_id, changed={"jobtitle": "E2"}, expected={"jobtitle": "C"})
    await send(producer, current)
    [outcome] = await result_of(applied, current)
    assert outcome.result == "applied"
    assert (await crm_client.get("contacts", crm_id))["jobtitle"] == "E2"

    unguarded = make_delta(crm_id=crm_id, changed={"jobtitle": "E3"})  # a one-way field: written over anything
    await send(producer, unguarded)
    [outcome] = await result_of(applied, unguarded)
    assert outcome.result == "applied"
    assert (await crm_client.get("contacts", crm_id))["jobtitle"] == "E3"


async def test_after_a_write_over_a_reread_row_the_next_write_does_not_undo_an_unreported_edit(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    """A person changes nickname (not captured yet); a jobtitle write re-reads the row and succeeds. The snapshot
    then says the new version but still holds the old nickname: a nickname write planned on it unread would pass
    its guard and overwrite the person's edit, which the capture then takes for fieldsync's own write."""
    applied = await read_topic(topics.APPLIED.full_name)
    row = await crm_user.client.create("contacts", {"lastname": "Unseen", "jobtitle": "A", "nickname": "N"})
    crm_id = row["contactid"]
    redis = Redis.from_url(applier.redis_url)
    try:
        state = CrmState(redis)
        await state.store_snapshot("contact", crm_id, snapshot_of(CONTACT, row, crm_user.email))
        await crm_user.client.update("contacts", crm_id, {"nickname": "Person"})  # not captured

        first = make_delta(crm_id=crm_id, changed={"jobtitle": "E"}, expected={"jobtitle": "A"})
        await send(producer, first)
        assert [o.result for o in await result_of(applied, first)] == ["applied"]
        snapshot = await state.snapshot("contact", crm_id)
        assert snapshot is not None and snapshot["@version"] != snapshot["@exact"]  # no base for an unread write
    finally:
        await redis.aclose()

    second = make_delta(crm_id=crm_id, changed={"nickname": "Merged"}, expected={"nickname": "N"})
    await send(producer, second)
    [outcome] = await result_of(applied, second)
    assert outcome.result == "superseded"
    assert (await crm_client.get("contacts", crm_id))["nickname"] == "Person"


async def test_a_create_makes_an_owned_linked_counterpart_and_a_delete_removes_it(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    exchange_id = f"AAMk-{uuid.uuid4().hex}"
    last = f"Created-{uuid.uuid4().hex[:6]}"
    fields = {"fullname": {"firstname": "Eve", "middlename": None, "lastname": last}, "jobtitle": "Spy"}
    create = make_delta(op="create", mailbox=crm_user.email, exchange_id=exchange_id, changed=fields)
    await send(producer, create)
    [outcome] = await result_of(applied, create)
    crm_id = counterpart_id(crm_user.email, exchange_id)
    assert (outcome.result, outcome.crm_id) == ("applied", crm_id)
    row = await crm_client.get("contacts", crm_id)
    assert (row["lastname"], row["jobtitle"], row["_ownerid_value"]) == (last, "Spy", crm_user.id)
    redis = Redis.from_url(applier.redis_url)
    try:
        assert await redis.hgetall(redis_keys.link_by_crm("contact", crm_id)) == {
            crm_user.email.encode(): exchange_id.encode()
        }
        assert await redis.get(redis_keys.link_by_exchange(crm_user.email, exchange_id)) == f"contact:{crm_id}".encode()

        again = make_delta(op="create", mailbox=crm_user.email, exchange_id=exchange_id, changed=fields)
        await send(producer, again)  # a second create for the same item finds its record through the link
        [outcome] = await result_of(applied, again)
        assert outcome.result == "skipped" and outcome.crm_id == crm_id
        assert len(await crm_client.query("contacts", filter=f"lastname eq '{last}'")) == 1

        delete = make_delta(op="delete", mailbox=crm_user.email, exchange_id=exchange_id)
        await send(producer, delete)
        [outcome] = await result_of(applied, delete)
        assert (outcome.result, outcome.crm_id) == ("applied", crm_id)
        with pytest.raises(NotFound):
            await crm_client.get("contacts", crm_id)
        assert (
            await redis.exists(
                redis_keys.link_by_crm("contact", crm_id), redis_keys.link_by_exchange(crm_user.email, exchange_id)
            )
            == 0
        )
    finally:
        await redis.aclose()


async def test_a_crm_outage_longer_than_the_client_retries_is_waited_out_not_dead_lettered(
    applier: CrmApplierSettings,
    crm_sandbox: CrmSandboxUrls,
    crm_user: CrmUser,
    producer: AIOKafkaProducer,
    read_topic: Any,
) -> None:
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    applied = await read_topic(topics.APPLIED.full_name)
    crm_id = (await crm_user.client.create("contacts", {"lastname": "Outage"}))["contactid"]
    delta = make_delta(crm_id=crm_id, changed={"jobtitle": "After the outage"})
    set_faults(crm_sandbox, unavailable_ratio=1.0, retry_after_s=0)
    try:
        with service_log("crm_applier") as log:
            await send(producer, delta)

            async def backing_off() -> bool:  # the client's own retries ran out: the loop backs off
                return any("backing off" in message for message in log)

            # Without the fix the delta is dead-lettered here and the loop never backs off.
            await eventually_async(backing_off, timeout=20, what="the applier backing off")
    finally:
        set_faults(crm_sandbox)
    [outcome] = await result_of(applied, delta)
    assert outcome.result == "applied"
    assert (await crm_user.client.get("contacts", crm_id)).get("jobtitle") == "After the outage"
    assert deadletter.matching(lambda r: r.key == key_of(delta)) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"not": "a delta"}', "invalid ItemDelta payload"),
        (b"\xff garbage", "invalid ItemDelta payload"),
        (encode(make_delta(crm_id=str(uuid.uuid4()), changed={"no_such_field": 1})), "invalid delta"),
        (encode(make_delta(crm_id=str(uuid.uuid4()), changed={"fullname": "not whole"})), "invalid delta"),
    ],
)
async def test_an_invalid_payload_ends_in_deadletter_with_the_reason(
    applier: CrmApplierSettings, producer: AIOKafkaProducer, read_topic: Any, payload: bytes, reason: str
) -> None:
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    key = f"contact:{uuid.uuid4()}".encode()
    await producer.send_and_wait(topics.DELTAS_CRM.full_name, payload, key=key)
    [record] = await deadletter.wait_for(lambda r: r.key == key)
    assert record.value == payload
    assert reason in dict(record.headers)[ERROR_HEADER].decode()
