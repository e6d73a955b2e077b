"""Dead letters end to end on the real broker, Redis and sandbox: a delta refused while CRM refused writes is
dead-lettered, kept by the recorder, listed by the admin API, replayed once CRM accepts writes again, and a second
replay changes nothing; replays and discards are audited with the admin token's actor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from infra.sandbox.crm.server import CrmSandboxUrls
from services.admin_api.deadletters import REPLAYED_FROM_HEADER
from services.admin_api.main import create_app
from services.crm_applier.settings import CrmApplierSettings
from services.recorder.loop import TOPICS
from services.recorder.main import run as run_recorder
from services.recorder.settings import RecorderSettings
from shared import topics
from shared.crm.client import CrmClient
from tests.integration.admin_api.serving import Tokens, admin_settings, bearer
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import make_delta, result_of, send
from tests.integration.harness import run_service, set_faults, skip_to_end, stop_service
from tests.support import eventually_async

pytestmark = pytest.mark.integration


@pytest.fixture
async def recorder(kafka_bootstrap: str, redis_url: str) -> AsyncIterator[RecorderSettings]:
    settings = RecorderSettings(
        bootstrap_servers=kafka_bootstrap, redis_url=redis_url, recorder_group_id=f"recorder-{uuid.uuid4()}"
    )
    for topic in TOPICS:
        await skip_to_end(kafka_bootstrap, settings.recorder_group_id, topic)
    service = await run_service(run_recorder, settings)
    yield settings
    await stop_service(*service)


@pytest.fixture
async def admin(redis_url: str, kafka_bootstrap: str) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    tokens = Tokens.fresh()
    app = create_app(admin_settings(redis_url, kafka_bootstrap, tokens))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin-api") as http:
            yield http, tokens


async def test_a_delta_refused_by_crm_is_replayed_once_crm_accepts_writes_and_a_second_replay_changes_nothing(
    applier: CrmApplierSettings, recorder: RecorderSettings, admin: tuple[httpx.AsyncClient, Tokens],
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer,
    read_topic: Any,
) -> None:
    http, tokens = admin
    as_admin = bearer(tokens.admin)
    applied = await read_topic(topics.APPLIED.full_name)
    crm_id = (await crm_user.client.create("contacts", {"lastname": "Refused", "jobtitle": "Before"}))["contactid"]
    delta = make_delta(crm_id=crm_id, changed={"jobtitle": "Replayed"})

    set_faults(crm_sandbox, refuse_writes=True)
    try:
        await send(producer, delta)
        [failed] = await result_of(applied, delta)
    finally:
        set_faults(crm_sandbox)
    assert failed.result == "failed" and "Writes refused" in (failed.error or "")
    before = await crm_client.get("contacts", crm_id)
    assert before["jobtitle"] == "Before"

    async def listed() -> dict[str, Any] | None:
        response = await http.get(
            "/api/v1/deadletters", params={"service": "crm_applier", "reason": "writes refused"}, headers=as_admin
        )
        assert response.status_code == 200, response.text
        return next((x for x in response.json()["letters"] if x["key"] == f"contact:{crm_id}"), None)

    letter = await eventually_async(listed, timeout=15, what="the dead letter listed")
    assert (letter["origin_topic"], letter["status"]) == (topics.DELTAS_CRM.full_name, "open")
    assert (await http.get("/api/v1/deadletters", headers=bearer(tokens.viewer))).status_code == 403
    path = f"/api/v1/deadletters/{letter['letter_id']}"

    deltas = await read_topic(topics.DELTAS_CRM.full_name)
    first = await http.post(f"{path}/replay", headers=as_admin)
    assert first.status_code == 200, first.text
    [again_sent] = await deltas.wait_for(
        lambda r: (REPLAYED_FROM_HEADER, letter["letter_id"].encode()) in list(r.headers or ()), what="the replay"
    )
    assert (again_sent.partition, again_sent.key) == (letter["origin_partition"], f"contact:{crm_id}".encode())
    replayed = (await result_of(applied, delta, count=2))[1]
    assert replayed.result == "applied" and replayed.changed == {"jobtitle": "Replayed"}
    row = await crm_client.get("contacts", crm_id)
    assert row["jobtitle"] == "Replayed"

    second = await http.post(f"{path}/replay", headers=as_admin)
    assert second.status_code == 200, second.text
    again = (await result_of(applied, delta, count=3))[2]
    assert again.result == "duplicate"
    assert (await crm_client.get("contacts", crm_id))["versionnumber"] == row["versionnumber"]

    shown = (await http.get(path, headers=as_admin)).json()
    assert shown["status"] == "replayed"
    assert [(h["action"], h["actor"]) for h in shown["history"]] == [("replayed", tokens.admin_name)] * 2

    assert (await http.post(f"{path}/discard", json={}, headers=as_admin)).status_code == 422
    discarded = await http.post(f"{path}/discard", json={"reason": "applied by replay"}, headers=as_admin)
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert (await http.post(f"{path}/replay", headers=as_admin)).status_code == 409
    audit = (await http.get("/api/v1/deadletters/audit", headers=as_admin)).json()["entries"]
    assert [(e["action"], e["actor"], e.get("reason")) for e in audit[:3]] == [
        ("discarded", tokens.admin_name, "applied by replay"),
        ("replayed", tokens.admin_name, None),
        ("replayed", tokens.admin_name, None),
    ]
