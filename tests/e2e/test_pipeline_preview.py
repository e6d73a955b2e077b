"""The preview through the whole embedded stack: real traffic lands in the change window, a candidate that turns
contact description to `none` reports exactly the recorded changes that carried it as stopping, the current policy
reports no difference, bad candidates are refused, the CLI shows it (and apply shows it before asking), and none
of it changes the policy store, either side, or any topic."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis
from typer.testing import CliRunner

from infra.runner.stack import Stack
from services.cli.policy import app as policy_cli
from shared import topics
from shared.change_window import ChangeWindow, WindowEntry
from shared.settings import SANDBOX_ADMIN_TOKEN, SANDBOX_VIEWER_TOKEN
from tests.e2e.conftest import ALICE, Admin, Crm, Mailboxes, settled
from tests.support import eventually

pytestmark = pytest.mark.e2e
PREVIEW = "/api/v1/policy/preview"
# Contacts only: the seed now makes every entity, so no entity is absent from the window (the sentence for a change
# that changes nothing is covered by tests/unit/policy/test_policy_preview.py).
TURN_OFF = {"changes": [{"entity": "contact", "field": "description", "direction": "none"}]}


def window(stack: Stack) -> list[WindowEntry]:
    async def read() -> list[WindowEntry]:
        redis = Redis.from_url(stack.settings.stack_redis_url)
        try:
            return await ChangeWindow(redis).read(datetime.now(UTC))
        finally:
            await redis.aclose()

    return asyncio.run(read())


def offsets(stack: Stack) -> dict[str, int]:
    """The end offset of every partition of every fieldsync topic."""

    async def read() -> dict[str, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.settings.stack_bootstrap)
        await consumer.start()
        try:
            parts = [tp for t in topics.ALL for tp in _partitions(consumer, t.full_name)]
            ends = await consumer.end_offsets(parts)
            return {f"{tp.topic}[{tp.partition}]": end for tp, end in ends.items()}
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


@pytest.fixture(scope="module")
def traffic(stack: Stack, crm: Crm, mailboxes: Mailboxes) -> dict[str, str]:
    """Contacts created and edited on both sides, description among the fields or not; settled."""
    ids = {}
    for tag in ("p1", "p2"):
        body = {"firstname": "Grace", "lastname": f"Hopper-{tag}", "telephone1": "+1 206 555 0100",
                "description": f"Met at the expo {tag}"}  # fmt: skip
        ids[tag] = crm.create("contacts", ALICE, body)["contactid"]
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname="Hopper-p1")
    mailboxes.one(ALICE, "contacts", timeout=30, surname="Hopper-p2")
    crm.update("contacts", ids["p2"], ALICE, {"telephone1": "+1 206 555 0142"})  # does not carry description
    crm.update("contacts", ids["p2"], ALICE, {"description": "Follow up in May"})
    item.refresh()
    item.body = "Prefers email"
    item.save(update_fields=["body"])
    eventually(lambda: "Prefers email" in str((crm.get("contacts", ids["p1"]) or {}).get("description")),
               timeout=30, what="the Outlook description in CRM")  # fmt: skip
    settled(lambda: [(crm.get("contacts", i) or {}).get("versionnumber") for i in ids.values()])
    settled(lambda: [i.changekey for i in mailboxes.find(ALICE, "contacts", surname__startswith="Hopper-")])
    eventually(lambda: len([e for e in window(stack) if e.change.crm_id in ids.values()]) >= 4, timeout=20,
               what="the changes in the window")  # fmt: skip
    return ids


def state(stack: Stack, admin: Admin, crm: Crm, mailboxes: Mailboxes, ids: dict[str, str]) -> dict[str, Any]:
    """What a preview must leave as it is: the policy and its history, both sides' records, every topic."""
    history = admin.http.get("/api/v1/policy/history").raise_for_status().json()
    return {
        "policy": admin.http.get("/api/v1/policy").raise_for_status().json(),
        "history": history["total"],
        "crm": [(crm.get("contacts", i) or {}).get("versionnumber") for i in ids.values()],
        "exchange": sorted(i.changekey for i in mailboxes.find(ALICE, "contacts", surname__startswith="Hopper-")),
        "topics": offsets(stack),
        "window": len(window(stack)),
    }


def test_a_field_turned_to_none_stops_exactly_the_recorded_changes_that_carried_it(
    stack: Stack, admin: Admin, crm: Crm, mailboxes: Mailboxes, traffic: dict[str, str]
) -> None:
    before = state(stack, admin, crm, mailboxes, traffic)
    report = admin.http.post(PREVIEW, json={**TURN_OFF, "sample_size": 100}).raise_for_status().json()
    after = state(stack, admin, crm, mailboxes, traffic)
    assert after == before  # nothing stored, published, written or applied

    recorded = window(stack)
    carried = {e.change.event_id: e.change.source.system for e in recorded
               if e.change.entity == "contact" and "description" in e.change.changed}  # fmt: skip
    assert {"crm", "exchange"} <= set(carried.values())  # both ways are in the traffic
    assert report["window"]["entries"] == len(recorded)
    extra = [(s["entity"], s["side"], s["op"], s["current"], s["candidate"]) for s in report["samples"]
             if s["event_id"] not in carried]
    assert report["differing"] == len(carried), json.dumps(extra, indent=1)[:6000]
    assert {s["event_id"] for s in report["samples"]} == set(carried)
    stops = {(f["entity"], f["field"], f["way"]): (f["starts"], f["stops"]) for f in report["flows"]}
    by_side = {side: sum(1 for s in carried.values() if s == side) for side in ("crm", "exchange")}
    assert stops == {("contact", "description", "to_exchange"): (0, by_side["crm"]),
                     ("contact", "description", "to_crm"): (0, by_side["exchange"])}  # fmt: skip
    sentences = [e["sentence"] for e in report["explanations"]]
    contacts = report["window"]["by_entity"]["contact"]
    assert (f"turning contact description to `none` stops CRM-to-Exchange writes for "
            f"{by_side['crm'] / contacts:.0%} of contact changes ({by_side['crm']} of {contacts})") in sentences
    one = next(s for s in report["samples"] if s["side"] == "crm")
    [now] = [o for t in one["current"] for o in t["outcomes"] if o["field"] == "description"]
    [then] = [o for t in one["candidate"] for o in t["outcomes"] if o["field"] == "description"]
    assert (now["synced"], then["synced"], then["reason"]) == (True, False, "direction")


def test_the_current_policy_reports_no_difference(admin: Admin, traffic: dict[str, str]) -> None:
    report = admin.http.post(PREVIEW, json={}).raise_for_status().json()
    assert report["window"]["entries"] > 0
    assert (report["differing"], report["flows"], report["samples"], report["entering"], report["leaving"]) == (
        0, [], [], 0, 0)
    [said] = report["explanations"]
    assert said["sentence"].startswith("the candidate is the current policy")


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"changes": [{"entity": "contact", "field": "nosuchfield", "direction": "none"}]}, 404, "no synchronized field"),
    ({"changes": [{"entity": "widget", "field": "x", "direction": "none"}]}, 404, "unknown entity"),
    ({"changes": [{"entity": "contact", "field": "fullname", "direction": "none"}]}, 409, "cannot be changed"),
    ({"changes": [{"entity": "contact", "field": "description", "direction": "sideways"}]}, 422, "direction"),
    ({"settings": {"no_such_setting": True}}, 422, "no_such_setting"),
])  # fmt: skip
def test_a_bad_candidate_is_refused_with_a_message(stack: Stack, body: dict[str, Any], status: int, says: str) -> None:
    headers = {"Authorization": f"Bearer {SANDBOX_ADMIN_TOKEN}"}
    answer = httpx.post(stack.urls["admin_api"] + PREVIEW, json=body, headers=headers, timeout=10)
    assert answer.status_code == status and says in answer.json()["detail"], answer.text


def test_a_viewer_may_not_preview(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {SANDBOX_VIEWER_TOKEN}"}
    answer = httpx.post(stack.urls["admin_api"] + PREVIEW, json=TURN_OFF, headers=headers, timeout=10)
    assert answer.status_code == 403


def test_the_cli_previews_a_file_and_apply_shows_the_preview_before_asking(
    stack: Stack, admin: Admin, tmp_path: Path, traffic: dict[str, str]
) -> None:
    policy = admin.http.get("/api/v1/policy").raise_for_status().json()
    document = {"version": policy["version"], "directions": {"contact": {"description": "none"}}}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    env = {"FIELDSYNC_API_URL": stack.urls["admin_api"], "FIELDSYNC_API_TOKEN": SANDBOX_ADMIN_TOKEN}
    runner = CliRunner()

    shown = runner.invoke(policy_cli, ["preview", str(path)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "contact.description: both -> none" in shown.stdout
    assert "turning contact description to `none` stops CRM-to-Exchange writes for" in shown.stdout
    assert "contact  description  CRM -> Exchange" in shown.stdout

    refused = runner.invoke(policy_cli, ["apply", str(path)], env=env, input="n\n")
    assert refused.exit_code == 1  # the confirmation said no: nothing applied
    out = refused.stdout
    assert out.index("turning contact description") < out.index("Apply these 1 changes?")
    assert admin.http.get("/api/v1/policy").raise_for_status().json()["version"] == policy["version"]
