"""The policy worker on the real broker and redis-server: changes in, deltas and decisions out, live policy
switches within a second, invalid payloads dead-lettered with the reason."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from shared import redis_keys, topics
from shared.events import TRACKING_CATEGORY, ItemChanged, PolicyChanged, Source
from shared.kafka import ERROR_HEADER, encode
from shared.policy_store import DirectionChange, PolicyStore
from tests.security_rows import sid
from tests.support import eventually_async

pytestmark = pytest.mark.integration
ALICE = "alice@sandbox.local"
ALICE_ID = sid("user:alice")  # the seeded organisation's alice (tests.security_rows): her filters take her records


def crm_change(
    crm_id: str, changed: dict[str, Any], op: str = "create", entity: str = "contact", **context: Any
) -> ItemChanged:
    now = datetime.now(UTC)
    return ItemChanged(
        event_id=str(uuid.uuid4()), occurred_at=now, captured_at=now, source=Source(system="crm"),
        entity=entity, op=op, crm_id=crm_id, changed=changed,
        context={"ownerid": ALICE_ID, "owner_mailbox": ALICE, "statecode": 0, **context},
    )  # fmt: skip


def exchange_change(crm_id: str, exchange_id: str, changed: dict[str, Any], categories: list[str]) -> ItemChanged:
    now = datetime.now(UTC)
    return ItemChanged(
        event_id=str(uuid.uuid4()), occurred_at=now, captured_at=now, source=Source(system="exchange"),
        entity="task", op="update", crm_id=crm_id, mailbox=ALICE, exchange_id=exchange_id, changed=changed,
        context={"categories": categories},
    )  # fmt: skip


async def send(producer: AIOKafkaProducer, topic: topics.Topic, key: str, value: bytes) -> None:
    await producer.send_and_wait(topic.full_name, key=key.encode(), value=value)


def events(published: Any, topic: topics.Topic, needle: str) -> list[dict[str, Any]]:
    return [json.loads(value) for _key, value, _headers in published.find(topic, needle)]


async def test_a_crm_create_becomes_a_delta_to_the_owner_and_a_decision(producer, published) -> None:  # type: ignore[no-untyped-def]
    crm_id = str(uuid.uuid4())
    change = crm_change(crm_id, {"telephone1": "+1 555 0100", "fullname": {"firstname": "Ann", "lastname": "Lee"}})
    await send(producer, topics.CRM_CHANGES, f"contact:{crm_id}", encode(change))

    async def outputs() -> tuple[list[Any], list[Any]] | None:
        deltas, decisions = (
            events(published, topics.DELTAS_EXCHANGE, crm_id),
            events(published, topics.DECISIONS, crm_id),
        )
        return (deltas, decisions) if deltas and decisions else None

    deltas, decisions = await eventually_async(outputs, timeout=15, what="delta and decision")
    (delta,) = deltas
    assert (delta["op"], delta["mailbox"], delta["causation_id"]) == ("create", ALICE, change.event_id)
    assert delta["changed"] == change.changed
    assert published.find(topics.DELTAS_EXCHANGE, crm_id)[0][0] == f"{ALICE}:contact:{crm_id}"
    synced = {o["field"] for o in decisions[0]["outcomes"] if o["synced"]}
    assert synced == {"telephone1", "fullname"} and decisions[0]["policy_version"] >= 1


async def test_a_linked_record_update_carries_the_exchange_id_from_redis(producer, published, policy_redis_url) -> None:  # type: ignore[no-untyped-def]
    crm_id = str(uuid.uuid4())
    redis = Redis.from_url(policy_redis_url)
    await redis.hset(redis_keys.link_by_crm("contact", crm_id), ALICE, "AAMk-linked")
    await redis.aclose()
    await send(
        producer, topics.CRM_CHANGES, f"contact:{crm_id}", encode(crm_change(crm_id, {"jobtitle": "CTO"}, op="update"))
    )
    deltas = await eventually_async(lambda: _found(published, topics.DELTAS_EXCHANGE, crm_id), timeout=15, what="delta")
    assert (deltas[0]["op"], deltas[0]["exchange_id"]) == ("update", "AAMk-linked")


async def _found(published: Any, topic: topics.Topic, needle: str) -> list[dict[str, Any]]:
    return events(published, topic, needle)


async def test_policy_changed_switches_the_next_decisions_within_a_second(
    producer, published, policy_redis_url
) -> None:  # type: ignore[no-untyped-def]
    redis = Redis.from_url(policy_redis_url)
    store = PolicyStore(redis)
    current = await eventually_async(store.get, timeout=15, what="the worker seeded the policy")
    new = await store.apply(
        [DirectionChange(entity="contact", field="description", direction="none")], "it", datetime.now(UTC)
    )
    await redis.aclose()
    assert new.version == current.version + 1
    event = PolicyChanged(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), actor="it", policy=new)
    await send(producer, topics.POLICY, "policy", encode(event))
    switched_at = time.monotonic()
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    seen: dict[str, Any] = {}

    async def first_new_decision() -> dict[str, Any] | None:
        crm_id = f"{probe}-{uuid.uuid4().hex[:6]}"
        await send(producer, topics.CRM_CHANGES, f"contact:{crm_id}", encode(crm_change(crm_id, {"description": "d"})))
        for decision in events(published, topics.DECISIONS, probe):
            seen.setdefault(decision["crm_id"], time.monotonic())
            if decision["policy_version"] == new.version:
                return decision
        return None

    decision = await eventually_async(
        first_new_decision, timeout=15, interval=0.05, what="a decision under the new version"
    )
    took = seen[decision["crm_id"]] - switched_at
    assert took < 1.0, f"the switch took {took:.3f}s"
    (outcome,) = [o for o in decision["outcomes"] if o["field"] == "description"]
    assert (outcome["synced"], outcome["reason"]) == (False, "direction")
    # The contact is still created in the owner's mailbox, without the field the new policy keeps in CRM.
    (delta,) = events(published, topics.DELTAS_EXCHANGE, decision["crm_id"])
    assert (delta["op"], delta["changed"], delta["policy_version"]) == ("create", {}, new.version)
    print(f"policy switch observed {took * 1000:.0f} ms after PolicyChanged was acked")


async def test_a_policy_changed_the_store_never_held_neither_pins_nor_rolls_back_the_policy(
    producer, published, policy_redis_url
) -> None:  # type: ignore[no-untyped-def]
    """An event from a wiped or foreign store (a higher version than this store ever had) is only a doorbell: the
    worker keeps running what the store holds, and the store's next version still takes effect."""
    redis = Redis.from_url(policy_redis_url)
    store = PolicyStore(redis)
    stored = await eventually_async(store.get, timeout=15, what="the worker seeded the policy")
    assert stored is not None
    foreign = stored.model_copy(update={"version": stored.version + 1000, "updated_at": datetime.now(UTC)})
    await send(producer, topics.POLICY, "policy", encode(
        PolicyChanged(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), actor="elsewhere", policy=foreign)
    ))  # fmt: skip
    probe = f"foreign-{uuid.uuid4().hex[:8]}"

    async def decision_after(version: int, tag: str) -> dict[str, Any] | None:
        crm_id = f"{probe}-{tag}-{uuid.uuid4().hex[:6]}"
        await send(producer, topics.CRM_CHANGES, f"contact:{crm_id}", encode(crm_change(crm_id, {"jobtitle": "x"})))
        found = events(published, topics.DECISIONS, f"{probe}-{tag}-")
        return next((d for d in found if d["policy_version"] == version), None)

    # A change decided after the foreign event was consumed still carries the stored version...
    await eventually_async(lambda: decision_after(stored.version, "a"), timeout=15, what="a decision, stored version")
    # ...and the store's next version switches the worker, although it is far below the foreign one.
    change = DirectionChange(entity="contact", field="jobtitle", direction="none")
    new = await store.apply([change], "it", datetime.now(UTC))
    await redis.aclose()
    await send(producer, topics.POLICY, "policy", encode(
        PolicyChanged(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), actor="it", policy=new)
    ))  # fmt: skip
    decision = await eventually_async(lambda: decision_after(new.version, "b"), timeout=15, what="the new version")
    (outcome,) = [o for o in decision["outcomes"] if o["field"] == "jobtitle"]
    assert (outcome["synced"], outcome["reason"]) == (False, "direction")
    assert not [d for d in events(published, topics.DECISIONS, probe) if d["policy_version"] == foreign.version]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (topics.CRM_CHANGES, b"not json", "invalid ItemChanged"),
        (topics.EXCHANGE_CHANGES, b'{"event_id": "x"}', "invalid ItemChanged"),
        (topics.POLICY, b'{"policy": 1}', "invalid PolicyChanged"),
    ],
)
async def test_invalid_payloads_go_to_the_dead_letter_topic_with_the_reason(
    producer, published, topic, payload, reason
) -> None:  # type: ignore[no-untyped-def]
    key = f"bad-{uuid.uuid4().hex}"
    await send(producer, topic, key, payload)

    async def dead() -> list[Any] | None:
        return [(v, h) for t, k, v, h in published.records if t == topics.DEADLETTER.full_name and k == key] or None

    ((value, headers),) = await eventually_async(dead, timeout=15, what="a dead letter")
    assert value == payload
    assert headers[ERROR_HEADER].decode().startswith(reason)
    assert headers["fs-origin-topic"].decode() == topic.full_name


async def _decision_of(published: Any, change: ItemChanged) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        return next((d for d in events(published, topics.DECISIONS, change.event_id)), None)

    return await eventually_async(found, timeout=15, what=f"the decision on {change.event_id}")


async def test_untracking_sticks_and_stops_both_directions_until_the_category_is_back(  # type: ignore[no-untyped-def]
    producer, published, policy_redis_url
) -> None:
    crm_id, item = str(uuid.uuid4()), f"AAMk-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(policy_redis_url)
    await redis.hset(redis_keys.link_by_crm("task", crm_id), ALICE, item)
    await redis.hset(redis_keys.exchange_snapshot(ALICE, item), mapping={"subject": '"Kept"', "description": '"d"'})
    key = f"{ALICE}:task:{crm_id}"

    removed = exchange_change(crm_id, item, {}, ["Red"])  # the user took the category off
    await send(producer, topics.EXCHANGE_CHANGES, key, encode(removed))
    notes = (await _decision_of(published, removed))["notes"]
    assert [(n["target"], n["mailbox"], n["effect"], n["reason"]) for n in notes] == [("crm", ALICE, None, "untracked")]
    assert await redis.get(redis_keys.untracked(ALICE, item)) is not None

    edited = exchange_change(crm_id, item, {"subject": "Outlook only"}, ["Red"])
    await send(producer, topics.EXCHANGE_CHANGES, key, encode(edited))
    outcome = next(o for o in (await _decision_of(published, edited))["outcomes"] if o["field"] == "subject")
    assert (outcome["synced"], outcome["reason"]) == (False, "untracked")

    from_crm = crm_change(crm_id, {"subject": "CRM only"}, op="update", entity="task")
    await send(producer, topics.CRM_CHANGES, f"task:{crm_id}", encode(from_crm))
    decision = await _decision_of(published, from_crm)
    assert [(n["mailbox"], n["effect"], n["reason"]) for n in decision["notes"]] == [(ALICE, None, "untracked")]

    back = exchange_change(crm_id, item, {}, ["Red", TRACKING_CATEGORY])  # tracked again: sync resumes
    await send(producer, topics.EXCHANGE_CHANGES, key, encode(back))
    resumed = await eventually_async(
        lambda: _found(published, topics.DELTAS_CRM, back.event_id), timeout=15, what="the re-tracked update"
    )
    assert (resumed[0]["op"], resumed[0]["changed"]) == ("update", {"subject": "Kept", "description": "d"})
    assert await redis.get(redis_keys.untracked(ALICE, item)) is None
    await redis.aclose()
    # Nothing crossed while the item was untracked, in either direction.
    assert [d["causation_id"] for d in events(published, topics.DELTAS_CRM, crm_id)] == [back.event_id]
    assert events(published, topics.DELTAS_EXCHANGE, crm_id) == []


@pytest.mark.parametrize(
    ("entity", "crm_values", "exchange_values", "reason"),
    [
        ("contact", {}, {}, "owner_keeps_contact"),
        ("appointment", {"organizer": '"bob@sandbox.local"'}, {}, "not_organizer"),
        ("task", {}, {"status": '{"statecode": 1, "statuscode": 5}'}, "task_completed"),
    ],
)
async def test_a_withheld_crm_delete_is_explained_and_unlinks_the_kept_item(  # type: ignore[no-untyped-def]
    producer, published, policy_redis_url, entity, crm_values, exchange_values, reason
) -> None:
    crm_id, item = str(uuid.uuid4()), f"AAMk-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(policy_redis_url)
    await redis.hset(redis_keys.link_by_crm(entity, crm_id), ALICE, item)
    for snapshot, values in (
        (redis_keys.crm_snapshot(entity, crm_id), crm_values),
        (redis_keys.exchange_snapshot(ALICE, item), exchange_values),
    ):
        if values:
            await redis.hset(snapshot, mapping=values)
    await redis.aclose()
    deleted = crm_change(crm_id, {}, op="delete", entity=entity)
    await send(producer, topics.CRM_CHANGES, f"{entity}:{crm_id}", encode(deleted))

    (note,) = (await _decision_of(published, deleted))["notes"]
    assert (note["target"], note["mailbox"], note["effect"], note["reason"]) == ("exchange", ALICE, "unlink", reason)
    assert "link" in note["detail"]
    (delta,) = await eventually_async(
        lambda: _found(published, topics.DELTAS_EXCHANGE, crm_id), timeout=15, what="the unlink delta"
    )
    assert (delta["op"], delta["keep_item"], delta["exchange_id"]) == ("delete", True, item)


def test_the_worker_logs_in_the_services_format(policy_worker) -> None:  # type: ignore[no-untyped-def]
    """faust's own lines and ours go through the services' redacting handler (shared.runtime.logging_config)."""
    text = policy_worker.log_path.read_text(errors="replace")
    assert re.search(r"^\S+ \S+ INFO \S+ \[\^Worker\]: Ready", text, re.MULTILINE), text[-2000:]
    assert re.search(r"^\S+ \S+ INFO fieldsync\.policy policy worker assigned: ", text, re.MULTILINE), text[-2000:]
