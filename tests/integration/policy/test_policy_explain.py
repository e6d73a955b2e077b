"""Explain over the real policy worker, recorder, admin API, broker and Redis: changes go in as the captures send
them, and the explain API gives each field's outcome with the right reason and sentence, and the conflicts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from infra.runner.process import ManagedProcess
from services.admin_api.explain import REASONS, SYNCED
from services.admin_api.main import create_app
from services.cli.explain_view import render_explanation
from services.recorder.loop import TOPICS
from services.recorder.main import run as run_recorder
from services.recorder.settings import RecorderSettings
from shared import redis_keys, topics
from shared.events import ItemChanged, Source
from shared.kafka import encode
from tests.integration.admin_api.serving import Tokens, admin_settings, bearer
from tests.integration.harness import run_service, skip_to_end, stop_service
from tests.security_rows import ALL_ACTIVE_CONTACTS, SALES, everyone_admin, sid
from tests.support import eventually_async

pytestmark = pytest.mark.integration
ALICE = "alice@sandbox.local"
ALICE_ID = sid("user:alice")  # her default filters take the records she owns
Api = tuple[httpx.AsyncClient, Tokens]


@pytest.fixture(scope="module")
async def recorder(kafka_bootstrap: str, policy_redis_url: str, policy_worker: ManagedProcess) -> AsyncIterator[None]:
    settings = RecorderSettings(
        bootstrap_servers=kafka_bootstrap, redis_url=policy_redis_url, recorder_group_id=f"rec-{uuid.uuid4()}"
    )
    for topic in TOPICS:
        await skip_to_end(kafka_bootstrap, settings.recorder_group_id, topic)
    service = await run_service(run_recorder, settings)
    yield
    await stop_service(*service)


@pytest.fixture(scope="module")
async def api(policy_redis_url: str, kafka_bootstrap: str, recorder: None) -> AsyncIterator[Api]:
    tokens = Tokens.fresh()
    app = create_app(admin_settings(policy_redis_url, kafka_bootstrap, tokens))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://a") as http:
        yield http, tokens


def change(
    system: str, entity: str, crm_id: str, changed: dict[str, Any], *, op: str = "update",
    at: datetime | None = None, exchange_id: str | None = None, **extra: Any,
) -> ItemChanged:
    now = datetime.now(UTC)
    ids = {"mailbox": ALICE, "exchange_id": exchange_id} if system == "exchange" else {}
    owned = {"ownerid": ALICE_ID, "owner_mailbox": ALICE, "statecode": 0}
    context = extra.pop("context", owned if system == "crm" else {})
    return ItemChanged(
        event_id=str(uuid.uuid4()), occurred_at=at or now, captured_at=now, source=Source(system=system),  # type: ignore[arg-type]
        entity=entity, op=op, crm_id=crm_id, changed=changed, context=context, **ids, **extra,  # type: ignore[arg-type]
    )


async def send(producer: AIOKafkaProducer, event: ItemChanged) -> None:
    topic = topics.CRM_CHANGES if event.source.system == "crm" else topics.EXCHANGE_CHANGES
    await producer.send_and_wait(topic.full_name, key=f"{event.entity}:{event.crm_id}".encode(), value=encode(event))


async def link(redis_url: str, entity: str, crm_id: str) -> str:
    exchange_id = f"AAMk-{uuid.uuid4().hex[:10]}"
    redis = Redis.from_url(redis_url)
    await redis.hset(redis_keys.link_by_crm(entity, crm_id), ALICE, exchange_id)
    await redis.set(redis_keys.link_by_exchange(ALICE, exchange_id), f"{entity}:{crm_id}")
    await redis.aclose()
    return exchange_id


async def explained(api: Api, entity: str, crm_id: str, event: ItemChanged, **params: str) -> dict[str, Any]:
    """Poll the explain API until it shows the change (recorded by the recorder from the worker's decision)."""
    http, tokens = api

    async def shown() -> dict[str, Any] | None:
        response = await http.get(f"/api/v1/explain/{entity}/{crm_id}", params=params, headers=bearer(tokens.viewer))
        assert response.status_code == 200, response.text
        found = [c for c in response.json()["changes"] if c["change_id"] == event.event_id]
        return found[0] if found else None

    return await eventually_async(shown, timeout=20, what=f"explain shows change {event.event_id}")


def reasons(shown: dict[str, Any], field: str) -> list[tuple[bool, str | None, str]]:
    return [(f["synced"], f["reason"], f["sentence"]) for f in shown["fields"] if f["field"] == field]


async def test_synced_out_of_scope_echo_and_unmapped_fields_are_explained(producer, api) -> None:  # type: ignore[no-untyped-def]
    crm_id = str(uuid.uuid4())
    created = change("crm", "contact", crm_id, {"jobtitle": "CTO", "notafield": "x"}, op="create")
    await send(producer, created)
    shown = await explained(api, "contact", crm_id, created, mailbox=ALICE)
    assert reasons(shown, "jobtitle") == [(True, None, SYNCED)]
    assert reasons(shown, "notafield") == [(False, "unmapped", REASONS["unmapped"])]
    assert [(t["target"], t["mailbox"], t["effect"]) for t in shown["targets"]] == [("exchange", ALICE, "create")]
    assert shown["policy_version"] >= 1 and shown["source"] == "crm"

    context = {"ownerid": ALICE_ID, "owner_mailbox": ALICE, "statecode": 1}
    inactive = change("crm", "contact", crm_id, {"jobtitle": "Gone"}, context=context)
    await send(producer, inactive)
    # The sentence names the filter evaluated and the condition that failed (services/policy/membership.py).
    assert reasons(await explained(api, "contact", crm_id, inactive), "jobtitle") == [
        (False, "out_of_scope", "no sync filter of alice for contact takes the record: user filter 'My Active "
                                "Contacts' does not take the record (statecode eq 0 does not hold: it is 1)")
    ]

    echo = change("crm", "contact", crm_id, {"jobtitle": "Mine"}, origin="fieldsync")
    await send(producer, echo)
    assert reasons(await explained(api, "contact", crm_id, echo, field="jobtitle"), "jobtitle") == [
        (False, "echo", REASONS["echo"])
    ]


async def test_direction_and_fixed_fields_are_explained(producer, api, policy_redis_url) -> None:  # type: ignore[no-untyped-def]
    http, tokens = api
    response = await http.put(
        "/api/v1/entities/contact/fields/description/direction", json={"direction": "none"},
        headers=bearer(tokens.admin),
    )
    assert response.status_code == 200, response.text
    version = response.json()["version"]

    async def decided_under_new_policy() -> dict[str, Any] | None:
        crm_id = str(uuid.uuid4())
        probe = change("crm", "contact", crm_id, {"description": "d"}, op="create")
        await send(producer, probe)
        shown = await explained(api, "contact", crm_id, probe)
        return shown if shown["policy_version"] >= version else None

    shown = await eventually_async(decided_under_new_policy, timeout=20, what="a decision under the new policy")
    assert reasons(shown, "description") == [(False, "direction", REASONS["direction"])]

    crm_id = str(uuid.uuid4())
    exchange_id = await link(policy_redis_url, "serviceappointment", crm_id)
    edited = change("exchange", "serviceappointment", crm_id, {"subject": "Outlook"}, exchange_id=exchange_id)
    await send(producer, edited)
    assert reasons(await explained(api, "serviceappointment", crm_id, edited, mailbox=ALICE), "subject") == [
        (False, "fixed", REASONS["fixed"])
    ]


async def test_untracked_items_are_explained_by_crm_id_and_by_exchange_id(producer, api, policy_redis_url) -> None:  # type: ignore[no-untyped-def]
    crm_id = str(uuid.uuid4())
    exchange_id = await link(policy_redis_url, "task", crm_id)
    removed = change("exchange", "task", crm_id, {}, exchange_id=exchange_id, context={"categories": ["Red"]})
    await send(producer, removed)
    await explained(api, "task", crm_id, removed)
    edited = change("exchange", "task", crm_id, {"subject": "Outlook only"}, exchange_id=exchange_id,
                    context={"categories": ["Red"]})
    await send(producer, edited)
    shown = await explained(api, "task", crm_id, edited, mailbox=ALICE, field="subject")
    assert reasons(shown, "subject") == [(False, "untracked", REASONS["untracked"])]
    assert shown["source"] == "exchange" and shown["mailbox"] == ALICE

    http, tokens = api
    response = await http.get("/api/v1/explain/task", params={"exchange_id": exchange_id, "mailbox": ALICE},
                              headers=bearer(tokens.viewer))
    answer = response.json()
    assert answer["crm_id"] == crm_id and edited.event_id in [c["change_id"] for c in answer["changes"]]
    assert f"not synced to CRM: subject (untracked): {REASONS['untracked']}" in render_explanation(answer)


async def test_a_conflict_is_explained_with_its_rule_and_winner(producer, api, policy_redis_url) -> None:  # type: ignore[no-untyped-def]
    crm_id = str(uuid.uuid4())
    exchange_id = await link(policy_redis_url, "contact", crm_id)
    start = datetime.now(UTC)
    agreed = change("crm", "contact", crm_id, {"jobtitle": "A"}, at=start)
    await send(producer, agreed)
    await explained(api, "contact", crm_id, agreed)
    outlook = change("exchange", "contact", crm_id, {"jobtitle": "B"}, exchange_id=exchange_id,
                     previous={"jobtitle": "A"}, at=start + timedelta(seconds=2))
    await send(producer, outlook)
    await explained(api, "contact", crm_id, outlook)
    # Made in CRM before the Outlook edit, from the value both last agreed: a conflict the later Outlook edit wins.
    late = change("crm", "contact", crm_id, {"jobtitle": "C"}, previous={"jobtitle": "A"},
                  at=start + timedelta(seconds=1))
    await send(producer, late)
    shown = await explained(api, "contact", crm_id, late, mailbox=ALICE, field="jobtitle")
    assert reasons(shown, "jobtitle") == [(False, "conflict", REASONS["conflict"])]
    assert [(c["field"], c["rule"], c["winner"], c["crm_value"], c["exchange_value"]) for c in shown["conflicts"]] == [
        ("jobtitle", "latest", "exchange", "C", "B")
    ]


async def test_the_security_reasons_are_explained_with_their_sentences(producer, api) -> None:  # type: ignore[no-untyped-def]
    """A round published on crm.security as crm_capture does: dave holds no role, erin and frank are salespeople
    (Basic), contact nickname is secured and nobody but the administrators has a profile for it."""
    org = everyone_admin("alice", "bob", "carol", "admin")
    sales = org.role("Explained Salesperson", SALES)
    dave, erin, frank = org.user("dave"), org.user("erin", None, sales), org.user("frank", None, sales)
    org.filter(erin, "All active contacts", "contact", ALL_ACTIVE_CONTACTS)  # takes frank's: then security decides
    org.secure("contact", "nickname")
    for event in org.events(round_=100):
        await producer.send_and_wait(topics.CRM_SECURITY.full_name, key=b"security", value=encode(event))

    def owned(owner: str, mailbox: str, changed: dict[str, Any]) -> ItemChanged:
        context = {"ownerid": owner, "owner_mailbox": f"{mailbox}@sandbox.local", "statecode": 0}
        return change("crm", "contact", str(uuid.uuid4()), changed, op="create", context=context)

    async def explained_as(event_of: Any, field: str, mailbox: str, reason: str, *words: str) -> None:
        """Poll with fresh changes until one is decided under round 100 (before it, dave and erin are unknown)."""

        async def decided() -> bool:
            event = event_of()
            await send(producer, event)
            shown = await explained(api, "contact", str(event.crm_id), event, mailbox=f"{mailbox}@sandbox.local")
            return reasons(shown, field) == [(False, reason, reasons(shown, field)[0][2])] and all(
                word in reasons(shown, field)[0][2] for word in words
            )

        await eventually_async(decided, timeout=30, what=f"{field} for {mailbox}: {reason} naming {words}")

    await explained_as(lambda: owned(dave, "dave", {"jobtitle": "x"}), "jobtitle", "dave", "no_privilege",
                       "dave holds no prvReadContact")
    await explained_as(lambda: owned(frank, "erin", {"jobtitle": "x"}), "jobtitle", "erin", "no_access",
                       "erin holds prvReadContact at Basic depth", "owned by frank")
    await explained_as(lambda: owned(erin, "erin", {"jobtitle": "x", "nickname": "secret"}), "nickname", "erin",
                       "field_security", "nickname")
