"""Live effect: PolicyChanged reaches the broker after each change; a down broker or Redis is reported."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from infra.runner.process import ManagedProcess, port_open
from services.admin_api.main import create_app
from shared import topics
from shared.catalogue import load_catalogue
from shared.events import PolicyChanged
from tests.integration.admin_api.serving import Tokens, admin_settings, bearer
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration

PHONE = "/api/v1/entities/contact/fields/telephone1/direction"


async def events_of(consumer: AIOKafkaConsumer, actor: str, count: int) -> list[tuple[bytes, PolicyChanged]]:
    """Read the policy topic until `count` events by `actor` arrived (deadline: 20 s)."""
    found: list[tuple[bytes, PolicyChanged]] = []
    async with asyncio.timeout(20):
        while len(found) < count:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    # The session's broker is shared: other tests put poison records on this topic on purpose.
                    try:
                        event = PolicyChanged.model_validate_json(record.value)
                    except ValidationError:
                        continue
                    if event.actor == actor:
                        found.append((record.key, event))
    return found


@pytest.fixture
async def consumer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topics.POLICY.full_name,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"test-policy-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def test_each_change_publishes_the_full_policy(
    client: httpx.AsyncClient, tokens: Tokens, consumer: AIOKafkaConsumer
) -> None:
    admin = bearer(tokens.admin)
    assert (await client.put(PHONE, json={"direction": "to_crm"}, headers=admin)).json()["published"]
    changes = [{"entity": "task", "field": "subject", "direction": "none"}]
    assert (await client.put("/api/v1/policy", json={"changes": changes}, headers=admin)).json()["published"]
    assert (await client.post("/api/v1/policy/reset", headers=admin)).json()["published"]
    events = await events_of(consumer, tokens.admin_name, 3)
    assert [key for key, _ in events] == [b"policy"] * 3
    policies = [event.policy for _, event in events]
    assert [p.version for p in policies] == [2, 3, 4]
    assert policies[0].directions["contact"]["telephone1"] == "to_crm"
    assert policies[1].directions["task"]["subject"] == "none"
    assert policies[1].directions["contact"]["telephone1"] == "to_crm"  # full policy, not a delta
    assert policies[2].directions == load_catalogue().default_directions()
    stored = (await client.get("/api/v1/policy", headers=admin)).json()
    assert json.loads(policies[2].model_dump_json()) == stored


async def test_a_rule_change_publishes_the_policy_with_every_rule(
    client: httpx.AsyncClient, tokens: Tokens, consumer: AIOKafkaConsumer
) -> None:
    admin = bearer(tokens.admin)
    response = await client.put("/api/v1/entities/task/conflict-rule", json={"rule": "crm_wins"}, headers=admin)
    assert response.json()["published"]
    body = {"changes": [{"entity": "task", "field": "subject", "direction": "none"}],
            "rule_changes": [{"entity": "fax", "rule": "exchange_wins"}]}
    assert (await client.put("/api/v1/policy", json=body, headers=admin)).json()["published"]
    policies = [event.policy for _, event in await events_of(consumer, tokens.admin_name, 2)]
    assert [p.version for p in policies] == [2, 3]
    rules = {name: "latest" for name in load_catalogue().entities}
    assert policies[0].conflict_rules == {**rules, "task": "crm_wins"}
    assert policies[1].conflict_rules == {**rules, "task": "crm_wins", "fax": "exchange_wins"}
    assert policies[1].directions["task"]["subject"] == "none"
    stored = (await client.get("/api/v1/policy", headers=admin)).json()
    assert json.loads(policies[1].model_dump_json()) == stored


async def test_a_down_broker_does_not_lose_the_change(redis_url: str) -> None:
    tokens = Tokens.fresh()
    dead_broker = f"127.0.0.1:{free_port()}"
    settings = admin_settings(
        redis_url,
        dead_broker,
        tokens,
        policy_publish_attempts=2,
        policy_publish_timeout_s=0.5,
        policy_publish_backoff_s=0.01,
        readiness_timeout_s=0.5,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin-api") as client:
            response = await client.put(PHONE, json={"direction": "none"}, headers=bearer(tokens.admin))
            assert response.status_code == 200
            assert (response.json()["changed"], response.json()["published"]) == (True, False)
            policy = (await client.get("/api/v1/policy", headers=bearer(tokens.admin))).json()
            assert policy["version"] == 2 and policy["directions"]["contact"]["telephone1"] == "none"
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] == "ok"
            assert ready.json()["checks"]["broker"].startswith("unreachable")
            assert ready.json()["detail"] == "not ready: broker unreachable"


async def test_a_down_redis_is_reported_not_a_500(kafka_bootstrap: str) -> None:
    tokens = Tokens.fresh()
    settings = admin_settings(f"redis://127.0.0.1:{free_port()}/0", kafka_bootstrap, tokens, readiness_timeout_s=1)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin-api") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["detail"] == "not ready: redis unreachable"
            assert ready.json()["checks"]["broker"] == "ok"
            response = await client.get("/api/v1/policy", headers=bearer(tokens.viewer))
            assert response.status_code == 503 and "Redis" in response.json()["detail"]


def test_the_service_refuses_to_start_with_placeholder_tokens_outside_the_sandbox(tmp_path: Path) -> None:
    env = {**os.environ, "FIELDSYNC_SANDBOX": "false", "FIELDSYNC_ADMIN_API_PORT": str(free_port())}
    env.pop("FIELDSYNC_ADMIN_TOKENS", None)
    env.pop("FIELDSYNC_ADMIN_TOKENS_FILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "services.admin_api"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "refuses to start" in done.stderr and "placeholder API tokens" in done.stderr


def test_the_served_api_logs_in_the_services_format_with_secrets_masked(tmp_path: Path, kafka_bootstrap: str) -> None:
    """`python -m services.admin_api` as the stack and compose run it: its own error lines and uvicorn's go through
    the redacting handler, so a Redis password in the URL never reaches the log."""
    secret, port = "redis-pass-7d1e", free_port()
    env = {
        **os.environ, "FIELDSYNC_SANDBOX": "true", "FIELDSYNC_ADMIN_API_PORT": str(port),
        "FIELDSYNC_BOOTSTRAP_SERVERS": kafka_bootstrap, "PYTHONPATH": os.getcwd(),
        "FIELDSYNC_REDIS_URL": f"redis://:{secret}@127.0.0.1:{free_port()}/0",  # nobody listens there
    }  # fmt: skip
    for name in ("FIELDSYNC_ADMIN_TOKENS", "FIELDSYNC_ADMIN_TOKENS_FILE"):
        env.pop(name, None)
    log = tmp_path / "admin.log"
    server = ManagedProcess("admin_api", [sys.executable, "-m", "services.admin_api"], log, env=env).start()
    try:
        root = f"http://127.0.0.1:{port}"
        server.wait_ready(lambda: port_open("127.0.0.1", port), 60)
        response = httpx.get(f"{root}/api/v1/policy", headers=bearer("sandbox-viewer-token"), timeout=10)
        assert response.status_code == 503

        def logged() -> str | None:
            text = log.read_text(errors="replace")
            return text if "Redis unreachable" in text else None

        text = eventually(logged, what="the error line in the log")
    finally:
        server.stop()
    assert re.search(r"^\S+ \S+ ERROR services\.admin_api\.main Redis unreachable", text, re.MULTILINE), text
    assert re.search(r"INFO uvicorn\.error Uvicorn running on", text), text  # uvicorn's lines take the same path
    assert secret not in text
