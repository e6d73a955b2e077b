"""The sync-time test end to end: `fieldsync policy test` beside a running stack (as `make run` leaves one) runs
both policies on a stack of its own, reports both with what explains the difference, leaves no process or port
behind, and changes nothing of the running stack: its policy (version and body), its Redis keys and change
window, and its sandbox records (every CRM row's version, every mailbox item's ChangeKey)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from infra.runner.process import port_open
from infra.runner.stack import Stack
from infra.sandbox.traffic import run_traffic
from infra.sandbox.traffic_crm import CRM_FIELDS
from infra.sandbox.traffic_exchange import EXCHANGE_FIELDS
from shared import redis_keys
from shared.settings import SANDBOX_ADMIN_TOKEN
from tests.e2e.conftest import Crm, Mailboxes
from tests.support import eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# About 60 s on an idle 2-core machine (the isolated stack starts, seeds and syncs in 30-40 s); the deadline is
# for a machine other work keeps busy.
RUN_TIMEOUT_S = 420.0


MAILBOXES = ("alice@sandbox.local", "bob@sandbox.local", "carol@sandbox.local")


def current_policy(stack: Stack) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {SANDBOX_ADMIN_TOKEN}"}
    answer = httpx.get(f"{stack.settings.admin_root}/api/v1/policy", headers=headers, timeout=10)
    return answer.raise_for_status().json()  # type: ignore[no-any-return]


def running_state(stack: Stack, crm: Crm, mailboxes: Mailboxes) -> dict[str, Any]:
    """What a sync-time test must leave as it found it on the running stack."""
    store = redis.Redis.from_url(stack.settings.stack_redis_url)
    try:
        keys = sorted(key.decode() for key in store.scan_iter(count=1000))
        window = store.llen(redis_keys.CHANGE_WINDOW)
        history = store.dump(redis_keys.POLICY_HISTORY)
    finally:
        store.close()
    rows = {}
    for entity_set, (_, key, _) in CRM_FIELDS.items():
        listed = crm.http.get(entity_set, params={"$select": f"{key},versionnumber"}).raise_for_status().json()
        rows[entity_set] = sorted((row[key], row.get("versionnumber")) for row in listed["value"])
    items = {}
    for mailbox in MAILBOXES:
        for folder in EXCHANGE_FIELDS:
            listed = getattr(mailboxes.account(mailbox), folder).all()
            items[(mailbox, folder)] = sorted((item.id, item.changekey) for item in listed)
    return {"policy": current_policy(stack), "keys": keys, "window": window, "history": history, "crm": rows,
            "items": items}


@pytest.fixture(scope="module")
def busy_stack(stack: Stack) -> Iterator[Stack]:
    """The running stack after some real traffic: its change window holds the changes a test is shaped by."""
    asyncio.run(run_traffic(stack.settings.client_settings(), rate=4, duration=3, seed=3, progress=lambda line: None))
    store = redis.Redis.from_url(stack.settings.stack_redis_url)
    try:
        eventually(lambda: store.llen(redis_keys.CHANGE_WINDOW) >= 10, timeout=60, what="changes in the window")
    finally:
        store.close()
    yield stack


def processes_of(data_dir: str) -> list[int]:
    """Every process whose environment names that data folder (each child of a stack gets FIELDSYNC_DATA_DIR)."""
    found = []
    marker = f"FIELDSYNC_DATA_DIR={data_dir}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue  # gone meanwhile, or not ours
    return found


def test_a_sync_time_test_reports_both_policies_and_leaves_nothing_behind(
    busy_stack: Stack, crm: Crm, mailboxes: Mailboxes, tmp_path: Path
) -> None:
    stack = busy_stack
    policy = current_policy(stack)
    contact = {**policy["directions"]["contact"], "description": "none", "jobtitle": "to_exchange"}
    candidate = {"version": policy["version"], "conflict_rules": policy["conflict_rules"],
                 "directions": {**policy["directions"], "contact": contact}}  # fmt: skip
    file = tmp_path / "candidate.json"
    file.write_text(json.dumps(candidate))

    def settled() -> dict[str, Any] | None:
        first = running_state(stack, crm, mailboxes)
        return first if running_state(stack, crm, mailboxes) == first else None

    before = eventually(settled, timeout=30, what="the running stack settled")

    env = {**os.environ, "FIELDSYNC_API_TOKEN": SANDBOX_ADMIN_TOKEN, "FIELDSYNC_API_URL": stack.settings.admin_root,
           "FIELDSYNC_REDIS_URL": stack.settings.stack_redis_url}  # fmt: skip
    command = [sys.executable, "-m", "services.cli.main", "policy", "test", str(file), "--duration", "5", "--rate",
               "2", "--p99", "30s", "--json"]  # fmt: skip
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as cli:  # fmt: skip
        try:
            stdout, stderr = cli.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            cli.terminate()  # SIGTERM: it stops its isolated stack before it exits, so a slow run leaves nothing either
            stdout, stderr = cli.communicate(timeout=30)
            pytest.fail(f"no report within {RUN_TIMEOUT_S:g}s: {stderr[-2000:]}")
    assert cli.returncode == 0, stderr[-3000:]
    report = json.loads(stdout)

    # Both policies, measured in the same run, side by side.
    current, tested = report["current"], report["candidate"]
    assert current["policy_version"] != tested["policy_version"]
    assert current["changes_made"] == tested["changes_made"] == 10
    assert current["changes_synced"] > 0 and current["overall"]["p99_s"] > 0 and current["errors"] == 0
    assert {row["flow"] for row in current["rows"]} <= {"crm_to_exchange", "exchange_to_crm"}
    assert report["shape"]["source"] == "window"
    texts = [item["text"] for item in report["explanations"]]
    assert any(text.startswith("turning contact description from `both` to `none` stops") for text in texts), texts
    assert any(text.startswith("turning contact jobtitle from `both` to `to_exchange`") for text in texts), texts
    assert report["verdict"]["outcome"] == "pass" and report["verdict"]["target_p99_s"] == 30
    assert "starting an isolated stack" in stderr and "100% done" in stderr  # the progress, on stderr

    # Nothing left: no process of the isolated stack, no port it used, no data folder.
    assert processes_of(report["data_dir"]) == []
    assert report["ports"] and [port for port in report["ports"] if port_open("127.0.0.1", port)] == []
    assert not Path(report["data_dir"]).exists()
    assert not set(report["ports"]) & {port for port, _ in stack.ports()}

    # The running stack is as it was.
    after = running_state(stack, crm, mailboxes)
    assert after["policy"] == before["policy"]
    assert after == before
