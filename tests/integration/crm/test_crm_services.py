"""`python -m services.crm_capture` / `services.crm_applier` as processes: env settings, work, clean SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from infra.sandbox.crm.server import CrmSandboxUrls
from shared import topics
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import make_delta, result_of, send, wait_events
from tests.integration.harness import skip_to_end

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def start(
    module: str, urls: CrmSandboxUrls, kafka_bootstrap: str, redis_url: str, **extra: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FIELDSYNC_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FIELDSYNC_REDIS_URL": redis_url,
        "FIELDSYNC_CRM_BASE_URL": urls.api_url,
        "FIELDSYNC_CRM_TOKEN_URL": urls.token_url,
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", module], cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )


def stop(process: subprocess.Popen[str], sig: signal.Signals) -> str:
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, err
    return err


async def test_capture_process_publishes_and_stops_cleanly_on_sigterm(
    crm_sandbox: CrmSandboxUrls, crm_user: CrmUser, kafka_bootstrap: str, redis_url: str, read_topic: Any
) -> None:
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    process = start(
        "services.crm_capture",
        crm_sandbox,
        kafka_bootstrap,
        redis_url,
        FIELDSYNC_CRM_CAPTURE_POLL_INTERVAL_S="0.05",
    )
    try:
        crm_id = (await crm_user.client.create("contacts", {"lastname": f"P-{uuid.uuid4().hex[:6]}"}))["contactid"]
        [event] = await wait_events(changes, crm_id, 1)
        assert event.op == "create"
    finally:
        err = stop(process, signal.SIGTERM)
    assert "crm_capture started" in err and "crm_capture stopped" in err
    assert "sandbox-secret" not in err


async def test_applier_process_applies_and_stops_cleanly_on_sigint(
    crm_sandbox: CrmSandboxUrls,
    crm_user: CrmUser,
    kafka_bootstrap: str,
    redis_url: str,
    read_topic: Any,
    producer: Any,
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    crm_id = (await crm_user.client.create("contacts", {"lastname": "Process"}))["contactid"]
    delta = make_delta(crm_id=crm_id, changed={"jobtitle": "by process"})
    group = f"crm-applier-{uuid.uuid4()}"
    # Earlier tests' deltas are not this sandbox's business.
    await skip_to_end(kafka_bootstrap, group, topics.DELTAS_CRM.full_name)
    await send(producer, delta)  # before the process joins: it starts from the committed offsets
    process = start(
        "services.crm_applier",
        crm_sandbox,
        kafka_bootstrap,
        redis_url,
        FIELDSYNC_CRM_APPLIER_GROUP_ID=group,
        FIELDSYNC_CRM_APPLIER_SESSION_TIMEOUT_MS="2000",
        FIELDSYNC_CRM_APPLIER_HEARTBEAT_INTERVAL_MS="300",
    )
    try:
        [outcome] = await result_of(applied, delta, timeout=30)
        assert outcome.result == "applied"
        assert (await crm_user.client.get("contacts", crm_id))["jobtitle"] == "by process"
    finally:
        err = stop(process, signal.SIGINT)
    assert "crm_applier started" in err and "crm_applier stopped" in err
