"""Operations on the whole embedded stack: every metric moves under traffic, consumer lag grows in records and
seconds while an applier is stopped and drains when it is back, mailbox health through the API and the CLI.

Driven through public interfaces only: the sandbox protocols and fault knobs, the traffic generator, the broker
(one bad delta, as any producer could send), every service's /metrics, the admin API and `fieldsync status`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from infra.runner.stack import Stack
from infra.sandbox.traffic import run_traffic
from services.admin_api.scrape import Series, parse
from shared import topics
from shared.settings import SANDBOX_VIEWER_TOKEN
from tests.e2e.conftest import ALICE, Admin, Crm, Mailboxes
from tests.e2e.test_pipeline_conflicts import edit_both_while_captures_are_stopped, linked_contact
from tests.support import eventually

pytestmark = pytest.mark.e2e
VIEWER = {"Authorization": f"Bearer {SANDBOX_VIEWER_TOKEN}"}
EXCHANGE_GROUP = "fieldsync-exchange-applier"


def scrape(stack: Stack) -> Series:
    """Every service's /metrics, summed into one set of series."""
    found: Series = {}
    for url in stack.metrics_urls().values():
        parse(httpx.get(url, timeout=5).raise_for_status().text, found)
    return found


def serving(stack: Stack) -> bool:
    """Every service answers on its metrics port (the policy worker serves once faust has started its tasks)."""
    try:
        for url in stack.metrics_urls().values():
            httpx.get(url, timeout=2).raise_for_status()
    except httpx.HTTPError:
        return False
    return True


def total(series: Series, name: str, **labels: str) -> float:
    """The sum of `name` over the series whose labels include `labels`."""
    return sum(v for (n, pairs), v in series.items() if n == name and labels.items() <= dict(pairs).items())


def present(series: Series, name: str, **labels: str) -> bool:
    return any(n == name and labels.items() <= dict(pairs).items() for (n, pairs) in series)


def traffic(stack: Stack, rate: float, duration: float, crm_share: float) -> None:
    report = asyncio.run(run_traffic(stack.settings.client_settings(), rate=rate, duration=duration,
                                     crm_share=crm_share, seed=uuid.uuid4().int % 10_000, progress=lambda _: None))
    assert report.changes, report.summary()


async def _send_bad_delta(bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topics.DELTAS_CRM.full_name, b"not an ItemDelta", key=b"contact:bad")
    finally:
        await producer.stop()


def test_every_metric_moves_when_traffic_runs(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    # What plain traffic does not cause: a conflict (first: it restarts both captures, whose counters then start
    # again from zero), a poison delta, a throttled CRM.
    crm_id, item = linked_contact(crm, mailboxes, tag)

    def edit_crm() -> None:
        crm.update("contacts", crm_id, ALICE, {"jobtitle": f"CRM {tag}"})

    def edit_outlook() -> None:
        item.job_title = f"Outlook {tag}"  # type: ignore[attr-defined]
        item.save(update_fields=["job_title"])  # type: ignore[attr-defined]

    eventually(lambda: serving(stack), timeout=60, interval=0.5, what="every service's /metrics")
    conflicts_before = total(scrape(stack), "fieldsync_conflicts_total", rule="latest")  # the policy's, not restarted
    edit_both_while_captures_are_stopped(stack, [edit_crm, edit_outlook])
    eventually(lambda: serving(stack), timeout=60, interval=0.5, what="every service's /metrics")
    before = scrape(stack)
    traffic(stack, rate=4, duration=5, crm_share=0.5)
    asyncio.run(_send_bad_delta(stack.settings.stack_bootstrap))
    faults = f"{stack.settings.crm_root}/_sandbox/faults"
    httpx.put(faults, json={"throttle_ratio": 1.0, "retry_after_s": 1}).raise_for_status()
    try:
        eventually(lambda: total(scrape(stack), "fieldsync_retries_total", target="crm", status="429")
                   > total(before, "fieldsync_retries_total", target="crm", status="429"),
                   timeout=20, what="a throttled CRM request retried")  # fmt: skip
    finally:
        httpx.put(faults, json={}).raise_for_status()

    moved = {
        "consumed deltas.crm": ("fieldsync_events_consumed_total", {"topic": topics.DELTAS_CRM.full_name}),
        "consumed deltas.exchange": ("fieldsync_events_consumed_total", {"topic": topics.DELTAS_EXCHANGE.full_name}),
        "consumed crm.changes": ("fieldsync_events_consumed_total", {"topic": topics.CRM_CHANGES.full_name}),
        "consumed exchange.changes": ("fieldsync_events_consumed_total", {"topic": topics.EXCHANGE_CHANGES.full_name}),
        "produced crm.changes": ("fieldsync_events_produced_total", {"topic": topics.CRM_CHANGES.full_name}),
        "produced exchange.changes": ("fieldsync_events_produced_total", {"topic": topics.EXCHANGE_CHANGES.full_name}),
        "produced decisions": ("fieldsync_events_produced_total", {"topic": topics.DECISIONS.full_name}),
        "produced applied": ("fieldsync_events_produced_total", {"topic": topics.APPLIED.full_name}),
        "latency to_crm": ("fieldsync_sync_latency_seconds_count", {"direction": "to_crm"}),
        "latency to_exchange": ("fieldsync_sync_latency_seconds_count", {"direction": "to_exchange"}),
        "hop capture": ("fieldsync_hop_latency_seconds_count", {"hop": "capture"}),
        "hop decide": ("fieldsync_hop_latency_seconds_count", {"hop": "decide"}),
        "hop apply": ("fieldsync_hop_latency_seconds_count", {"hop": "apply"}),
        "decisions synced": ("fieldsync_decisions_total", {"outcome": "synced"}),
        "writes applied": ("fieldsync_writes_total", {"result": "applied"}),
        "dead letters": ("fieldsync_dead_letters_total", {"service": "crm_applier", "reason": "invalid_payload"}),
        "process cpu": ("process_cpu_seconds_total", {}),
    }

    def still_flat() -> list[str] | None:
        now = scrape(stack)
        flat = [what for what, (name, labels) in moved.items()
                if total(now, name, **labels) <= total(before, name, **labels)]  # fmt: skip
        return flat or None

    deadline = time.monotonic() + 45
    while (flat := still_flat()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not flat, f"these did not move: {flat}"
    now = scrape(stack)
    eventually(lambda: total(scrape(stack), "fieldsync_conflicts_total", rule="latest") > conflicts_before,
               timeout=30, interval=0.5, what="the conflict counted")  # fmt: skip
    assert present(now, "fieldsync_capture_cursor_age_seconds", source="exchange", mailbox=ALICE, folder="contacts")
    assert present(now, "fieldsync_capture_cursor_age_seconds", source="crm", folder="contact")
    for group in ("fieldsync-policy", "fieldsync-crm-applier", EXCHANGE_GROUP):
        assert present(now, "fieldsync_consumer_lag_messages", group=group)
        assert present(now, "fieldsync_consumer_lag_seconds", group=group)
    assert present(now, "fieldsync_mailbox_failing", error="throttled")
    assert total(now, "process_resident_memory_bytes") > 0


def _lag(stack: Stack) -> tuple[float, float]:
    own = httpx.get(stack.metrics_urls()["admin_api"], timeout=5).raise_for_status().text
    series: Series = {}
    parse(own, series)
    return (total(series, "fieldsync_consumer_lag_messages", group=EXCHANGE_GROUP),
            total(series, "fieldsync_consumer_lag_seconds", group=EXCHANGE_GROUP))  # fmt: skip


def _when(lag: tuple[float, float], holds: Callable[[tuple[float, float]], bool]) -> tuple[float, float] | None:
    return lag if holds(lag) else None


def test_lag_grows_in_records_and_seconds_while_an_applier_is_stopped_and_drains_when_it_restarts(
    stack: Stack,
) -> None:
    eventually(lambda: _lag(stack) == (0.0, 0.0), timeout=30, what="no exchange_applier lag to begin with")
    applier = next(p for p in stack.processes if p.name == "exchange_applier")
    applier.stop()
    try:
        traffic(stack, rate=3, duration=3, crm_share=1.0)  # CRM edits: deltas for the mailboxes
        first = eventually(lambda: _when(_lag(stack), lambda lag: lag[0] > 0), timeout=30, interval=0.5,
                           what="lag in records")  # fmt: skip
        later = eventually(lambda: _when(_lag(stack), lambda lag: lag[1] >= first[1] + 2), timeout=30, interval=0.5,
                           what="lag in seconds growing while nothing consumes")  # fmt: skip
        assert later[0] >= first[0] > 0
    finally:
        applier.start()
    eventually(lambda: _lag(stack) == (0.0, 0.0), timeout=60, what="the lag drained once the applier is back")


def test_mailbox_health_through_the_api_and_the_cli(stack: Stack) -> None:
    url = stack.urls["admin_api"]
    assert httpx.get(f"{url}/api/v1/mailboxes").status_code == 401

    def alice() -> dict[str, object] | None:
        rows = httpx.get(f"{url}/api/v1/mailboxes", headers=VIEWER).raise_for_status().json()
        return next((m for m in rows if m["mailbox"] == ALICE and len(m["folders"]) == 3), None)

    found = eventually(alice, timeout=30, what="alice's three folders recorded")
    folders = {f["folder"]: f for f in found["folders"]}  # type: ignore[attr-defined]
    assert set(folders) == {"calendar", "contacts", "tasks"}
    assert all(f["last_success"] for f in folders.values())
    cli = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "status", "--url", url, "--token", SANDBOX_VIEWER_TOKEN],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert ALICE in cli.stdout and "contacts" in cli.stdout and "failing" in cli.stdout
