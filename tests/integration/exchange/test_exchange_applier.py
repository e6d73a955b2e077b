"""exchange_applier on the EWS sandbox, real broker and Redis: creates, updates, replays, conflicts, dead letters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from infra.sandbox.exchange.server import ExchangeSandboxUrls
from services.exchange_applier.apply import item_key
from services.exchange_applier.main import run
from services.exchange_applier.settings import ExchangeApplierSettings
from services.exchange_capture.main import run as run_capture
from services.exchange_capture.settings import ExchangeCaptureSettings
from shared import redis_keys, topics
from shared.events import DeltaApplied, ItemChanged, ItemDelta, Source
from shared.exchange import fields as exchange_fields
from shared.exchange.client import ExchangeClient
from shared.exchange.state import ExchangeState
from shared.kafka import ERROR_HEADER, encode
from shared.settings import ExchangeSettings
from tests.integration.crm.harness import service_log
from tests.integration.exchange.conftest import UserMailbox
from tests.integration.harness import run_service, set_faults, skip_to_end, stop_service
from tests.support import eventually_async

pytestmark = pytest.mark.integration

CONTACT = {
    "fullname": {"firstname": "Ada", "middlename": "K", "lastname": "Byron"},
    "telephone1": "+1 555 0100", "mobilephone": "+1 555 0101", "fax": "+1 555 0102", "pager": "+1 555 0103",
    "emailaddress1": "ada@example.test", "emailaddress2": "ada2@example.test", "jobtitle": "Engineer",
    "department": "R&D", "birthdate": "1990-02-03", "anniversary": "2015-06-07", "governmentid": "GOV-1",
    "ftpsiteurl": "ftp://ada.example.test", "websiteurl": "https://ada.example.test", "nickname": "Countess",
    "yomifirstname": "ayda", "yomilastname": "bairon", "description": "Notes", "childrensnames": "Byron jr",
    "address1_composite": {"address1_line1": "1 Main St", "address1_line2": "Floor 2", "address1_line3": None,
                           "address1_city": "London", "address1_stateorprovince": "LDN",
                           "address1_postalcode": "N1", "address1_country": "UK"},
}
APPOINTMENT = {
    "subject": "Review", "location": "Room 1", "description": "Agenda", "prioritycode": 2,
    "appointment_time": {"scheduledstart": "2026-12-01T10:00:00Z", "scheduledend": "2026-12-01T11:30:00Z",
                         "scheduleddurationminutes": 90, "isalldayevent": False},
    "requiredattendees": ["bob@example.test"], "optionalattendees": ["eve@example.test"],
    "regardingobjectid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "appointment_status": {"statecode": 3, "statuscode": 5},
}
TASK = {
    "subject": "Call back", "description": "About the offer", "prioritycode": 0, "percentcomplete": 40,
    "scheduledstart": "2026-12-01T00:00:00Z", "scheduledend": "2026-12-03T00:00:00Z",
    "status": {"statecode": 0, "statuscode": 3}, "regardingobjectid": "3f2504e0-4f89-11d3-9a0c-0305e82c3302",
}


def make_delta(mailbox: str, entity: str, changed: dict[str, Any], **overrides: Any) -> ItemDelta:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()), "occurred_at": now, "captured_at": now, "source": Source(system="crm"),
        "entity": entity, "op": "create", "crm_id": str(uuid.uuid4()), "mailbox": mailbox, "changed": changed,
        "target": "exchange", "policy_version": 1, "decided_at": now, "causation_id": str(uuid.uuid4()),
    }
    return ItemDelta(**{**values, **overrides})


def key_of(delta: ItemDelta) -> bytes:
    return f"{delta.mailbox}:{delta.entity}:{delta.crm_id or 'x-' + str(delta.exchange_id)}".encode()


@pytest.fixture(scope="module")
async def applier(
    ews_sandbox: ExchangeSandboxUrls, kafka_bootstrap: str, module_redis_url: str
) -> AsyncIterator[None]:
    """One applier for the module (a consumer group join costs seconds); tests use their own mailboxes."""
    group = f"test-exchange-applier-{uuid.uuid4().hex[:8]}"
    await skip_to_end(kafka_bootstrap, group, topics.DELTAS_EXCHANGE.full_name)
    settings = ExchangeApplierSettings(
        bootstrap_servers=kafka_bootstrap, redis_url=module_redis_url, ews_url=ews_sandbox.ews_url,
        exchange_applier_group_id=group, exchange_applier_retry_attempts=3, exchange_applier_retry_base_s=0.02,
        exchange_applier_retry_max_s=0.1, exchange_applier_backoff_max_s=1.0,
    )
    task, stop = await run_service(run, settings)
    yield
    await stop_service(task, stop)


@pytest.fixture
async def state(module_redis_url: str) -> AsyncIterator[ExchangeState]:
    redis = Redis.from_url(module_redis_url)
    yield ExchangeState(redis)
    await redis.aclose()


@pytest.fixture
async def ews(ews_sandbox: ExchangeSandboxUrls) -> AsyncIterator[ExchangeClient]:
    client = ExchangeClient(ExchangeSettings(ews_url=ews_sandbox.ews_url))
    yield client
    await client.close()


async def send(producer: AIOKafkaProducer, delta: ItemDelta) -> None:
    await producer.send_and_wait(topics.DELTAS_EXCHANGE.full_name, encode(delta), key=key_of(delta))


async def result_for(reader: Any, delta: ItemDelta, count: int = 1) -> list[DeltaApplied]:
    def match(record: Any) -> bool:
        return DeltaApplied.model_validate_json(record.value).causation_id == delta.event_id

    records = await reader.wait_for(match, count=count, what=f"DeltaApplied for {delta.event_id}")
    return [DeltaApplied.model_validate_json(r.value) for r in records]


@pytest.mark.parametrize(("entity", "values"), [("contact", CONTACT), ("appointment", APPOINTMENT), ("task", TASK)])
async def test_create_writes_every_mapped_field_and_links_both_ways(
    applier: None, producer: AIOKafkaProducer, read_topic: Any, ews: ExchangeClient, user: UserMailbox,
    state: ExchangeState, entity: str, values: dict[str, Any],
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    delta = make_delta(user.address, entity, values)
    await send(producer, delta)
    [result] = await result_for(applied, delta)
    assert result.result == "applied" and result.exchange_id and result.written_version
    item = await ews.get_item(user.address, entity, result.exchange_id)
    assert item is not None and item.changekey == result.written_version
    assert {k: v for k, v in exchange_fields.to_canonical(entity, item.attributes).items() if k in values} == values
    assert await state.linked_exchange(entity, str(delta.crm_id), user.address) == result.exchange_id
    assert await state.linked_crm(user.address, result.exchange_id) == (entity, delta.crm_id)
    assert (result.occurred_at, result.decided_at) == (delta.occurred_at, delta.decided_at)


async def test_update_changes_only_given_fields_and_a_replay_changes_nothing(
    applier: None, producer: AIOKafkaProducer, read_topic: Any, ews: ExchangeClient, user: UserMailbox,
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    create = make_delta(user.address, "appointment", APPOINTMENT)
    await send(producer, create)
    [created] = await result_for(applied, create)
    update = make_delta(user.address, "appointment", {"location": "Room 9"}, op="update", crm_id=create.crm_id)
    await send(producer, update)
    [updated] = await result_for(applied, update)
    assert updated.result == "applied" and updated.written_version != created.written_version
    item = await ews.get_item(user.address, "appointment", str(created.exchange_id))
    assert item is not None
    values = exchange_fields.to_canonical("appointment", item.attributes)
    assert values["location"] == "Room 9" and values["subject"] == "Review" and values["prioritycode"] == 2

    await send(producer, update)  # the same delta again (a redelivery)
    [_, replayed] = await result_for(applied, update, count=2)
    assert replayed.result == "duplicate"
    again = await ews.get_item(user.address, "appointment", str(created.exchange_id))
    assert again is not None and again.changekey == item.changekey


async def test_a_create_replayed_after_a_crash_before_its_records_adopts_the_item_instead_of_a_second(
    applier: None, producer: AIOKafkaProducer, read_topic: Any, ews: ExchangeClient, user: UserMailbox,
    state: ExchangeState,
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    create = make_delta(user.address, "task", {"subject": "Created once"})
    await send(producer, create)
    [first] = await result_for(applied, create)
    assert first.result == "applied" and first.exchange_id
    # The crash: EWS stored the item, but none of the Redis records that follow were written.
    await state.redis.delete(
        redis_keys.applied_version("exchange", item_key(create)),
        redis_keys.link_by_crm("task", str(create.crm_id)),
        redis_keys.link_by_exchange(user.address, first.exchange_id),
        state.snapshot_key(user.address, first.exchange_id), state.echo_key(user.address, first.exchange_id),
    )

    await send(producer, create)  # the redelivery of the uncommitted delta
    [_, replayed] = await result_for(applied, create, count=2)
    assert replayed.result == "applied" and replayed.exchange_id == first.exchange_id
    subjects = await user.run(lambda: [t.subject for t in user.account.tasks.all().only("subject")])
    assert subjects == ["Created once"]
    assert await state.linked_exchange("task", str(create.crm_id), user.address) == first.exchange_id


@pytest.mark.parametrize(("guarded", "expected_location"), [(True, "Edited in Outlook"), (False, "Room 7")])
async def test_a_field_edited_in_outlook_meanwhile_is_superseded_when_guarded(
    applier: None, producer: AIOKafkaProducer, read_topic: Any, ews: ExchangeClient, user: UserMailbox,
    guarded: bool, expected_location: str,
) -> None:
    """The merge point expected the location it created; the user edited it in Outlook meanwhile: that field is
    left for the merge point (the capture reports the edit), the others are written. Unguarded (a one-way
    field), the write goes over the edit."""
    applied = await read_topic(topics.APPLIED.full_name)
    create = make_delta(user.address, "appointment", APPOINTMENT)
    await send(producer, create)
    [created] = await result_for(applied, create)
    item = await user.get("appointment", str(created.exchange_id))
    await user.update(item, location="Edited in Outlook")  # fieldsync's ChangeKey is stale from here on
    expected = {"location": APPOINTMENT["location"], "subject": APPOINTMENT["subject"]} if guarded else {}
    update = make_delta(user.address, "appointment", {"location": "Room 7", "subject": "Moved"}, op="update",
                        crm_id=create.crm_id, expected=expected)
    await send(producer, update)
    [result] = await result_for(applied, update)
    assert result.result == ("superseded" if guarded else "applied")
    assert result.changed.keys() == ({"subject"} if guarded else {"location", "subject"})
    now = await ews.get_item(user.address, "appointment", str(created.exchange_id))
    assert now is not None
    values = exchange_fields.to_canonical("appointment", now.attributes)
    assert (values["location"], values["subject"]) == (expected_location, "Moved")



async def test_after_a_write_over_a_reread_item_the_next_write_does_not_undo_an_unreported_edit(
    applier: None, producer: AIOKafkaProducer, read_topic: Any, ews: ExchangeClient, user: UserMailbox,
    state: ExchangeState,
) -> None:
    """The user edits the location (not captured yet); a subject write re-reads the item and succeeds. The snapshot
    then says the new ChangeKey but still holds the old location: a location write planned on it unread would
    pass its guard and overwrite the user's edit."""
    applied = await read_topic(topics.APPLIED.full_name)
    create = make_delta(user.address, "appointment", APPOINTMENT)
    await send(producer, create)
    [created] = await result_for(applied, create)
    exchange_id = str(created.exchange_id)
    await user.update(await user.get("appointment", exchange_id), location="Edited in Outlook")
    subject = make_delta(user.address, "appointment", {"subject": "Moved"}, op="update", crm_id=create.crm_id,
                         expected={"subject": APPOINTMENT["subject"]})
    await send(producer, subject)
    assert [r.result for r in await result_for(applied, subject)] == ["applied"]
    snapshot = await state.snapshot(user.address, exchange_id)
    assert snapshot is not None and snapshot["@version"] != snapshot.get("@exact")

    location = make_delta(user.address, "appointment", {"location": "Room 7"}, op="update", crm_id=create.crm_id,
                          expected={"location": APPOINTMENT["location"]})
    await send(producer, location)
    [result] = await result_for(applied, location)
    assert result.result == "superseded"
    now = await ews.get_item(user.address, "appointment", exchange_id)
    assert now is not None
    values = exchange_fields.to_canonical("appointment", now.attributes)
    assert (values["location"], values["subject"]) == ("Edited in Outlook", "Moved")

async def test_delete_removes_the_linked_item_and_the_links(
    applier: None, producer: AIOKafkaProducer, read_topic: Any, ews: ExchangeClient, user: UserMailbox,
    state: ExchangeState,
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    create = make_delta(user.address, "task", TASK)
    await send(producer, create)
    [created] = await result_for(applied, create)
    delete = make_delta(user.address, "task", {}, op="delete", crm_id=create.crm_id)
    await send(producer, delete)
    [deleted] = await result_for(applied, delete)
    assert deleted.result == "applied" and deleted.exchange_id == created.exchange_id
    assert await ews.get_item(user.address, "task", str(created.exchange_id)) is None
    assert await state.linked_exchange("task", str(create.crm_id), user.address) is None


async def test_failing_and_invalid_deltas_go_to_the_dead_letter_topic(
    ews_sandbox: ExchangeSandboxUrls, applier: None, producer: AIOKafkaProducer, read_topic: Any, user: UserMailbox,
) -> None:
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    unknown_mailbox = make_delta(f"nobody-{uuid.uuid4().hex[:8]}@sandbox.local", "task", {"subject": "x"})
    invalid = make_delta(user.address, "task", {"prioritycode": 9})
    garbage_key = f"{user.address}:task:{uuid.uuid4()}".encode()
    await send(producer, unknown_mailbox)
    await send(producer, invalid)
    await producer.send_and_wait(topics.DELTAS_EXCHANGE.full_name, b"{not json", key=garbage_key)

    def error_of(key: bytes) -> str:
        [record] = deadletter.matching(lambda r: r.key == key)
        return dict(record.headers)[ERROR_HEADER].decode()

    for key in (key_of(unknown_mailbox), key_of(invalid), garbage_key):
        await deadletter.wait_for(lambda r, key=key: r.key == key, what=f"dead letter {key!r}")
    assert "Mailbox" in error_of(key_of(unknown_mailbox)) or "mailbox" in error_of(key_of(unknown_mailbox))
    assert "prioritycode" in error_of(key_of(invalid))
    assert "invalid ItemDelta payload" in error_of(garbage_key)


async def test_an_ews_outage_longer_than_the_writer_retries_is_waited_out_not_dead_lettered(
    ews_sandbox: ExchangeSandboxUrls, applier: None, producer: AIOKafkaProducer, read_topic: Any, user: UserMailbox,
    ews: ExchangeClient,
) -> None:
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    applied = await read_topic(topics.APPLIED.full_name)
    delta = make_delta(user.address, "task", {"subject": "After the outage"})
    set_faults(ews_sandbox, unavailable_ratio=1.0, retry_after_s=0)
    try:
        with service_log("exchange_applier") as log:
            await send(producer, delta)

            async def backing_off() -> bool:  # the writer's own retries ran out: the loop backs off
                return any("backing off" in message for message in log)

            # Without the fix the delta is dead-lettered here and the loop never backs off.
            await eventually_async(backing_off, timeout=20, what="the applier backing off")
    finally:
        set_faults(ews_sandbox)
    [result] = await result_for(applied, delta)
    assert result.result == "applied" and result.exchange_id
    item = await ews.get_item(user.address, "task", result.exchange_id)
    assert item is not None and item.attributes.get("subject") == "After the outage"
    assert deadletter.matching(lambda r: r.key == key_of(delta)) == []


async def test_what_the_applier_writes_is_not_captured_back(
    ews_sandbox: ExchangeSandboxUrls, applier: None, producer: AIOKafkaProducer, read_topic: Any,
    kafka_bootstrap: str, module_redis_url: str, user: UserMailbox,
) -> None:
    changes = await read_topic(topics.EXCHANGE_CHANGES.full_name)
    applied = await read_topic(topics.APPLIED.full_name)
    capture = ExchangeCaptureSettings(
        bootstrap_servers=kafka_bootstrap, redis_url=module_redis_url, ews_url=ews_sandbox.ews_url,
        mailboxes=user.address, exchange_capture_poll_interval_s=0.05,
    )
    task, stop = await run_service(run_capture, capture)
    try:
        create = make_delta(user.address, "task", TASK)
        await send(producer, create)
        [created] = await result_for(applied, create)
        update = make_delta(user.address, "task", {"subject": "Renamed", "percentcomplete": 80}, op="update",
                            crm_id=create.crm_id)
        await send(producer, update)
        await result_for(applied, update)
        # A user's change made afterwards in the same folder: once it is captured, fieldsync's writes were read too.
        marker = await user.create("task", subject="Typed by the user")

        def of_mailbox(record: Any) -> bool:
            try:
                return ItemChanged.model_validate_json(record.value).mailbox == user.address
            except ValueError:  # pydantic's ValidationError: an invalid payload another test's dead-letter case sent
                return False

        await changes.wait_for(
            lambda r: of_mailbox(r) and ItemChanged.model_validate_json(r.value).exchange_id == marker.id,
            what="the user's change",
        )
        ours = [r for r in changes.matching(of_mailbox)
                if ItemChanged.model_validate_json(r.value).exchange_id == created.exchange_id]
        assert ours == []
    finally:
        await stop_service(task, stop)
