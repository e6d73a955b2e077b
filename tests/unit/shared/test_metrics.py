"""shared.metrics: one registry per Metrics, the effect points' names and labels, the capped mailbox series."""

from __future__ import annotations

import httpx
import pytest

from shared.crm.client import CrmError, Unavailable
from shared.mailbox_health import classify
from shared.metrics import EXPORTED, OTHER_MAILBOXES, Metrics, failure_status, serve_metrics


def test_two_metrics_never_share_a_registry() -> None:
    one, two = Metrics(), Metrics()
    one.wrote("crm", "applied")
    assert one.value("fieldsync_writes_total", target="crm", result="applied") == 1.0
    assert two.value("fieldsync_writes_total", target="crm", result="applied") == 0.0


def test_effect_points_count_under_their_names() -> None:
    m = Metrics()
    m.consumed("fieldsync.deltas.crm")
    m.produced("fieldsync.applied", 3)
    m.hop("apply", 0.2)
    m.synced("to_crm", "contact", 1.5)
    m.decided("withheld", "direction")
    m.conflict("latest", "crm")
    m.retried("exchange", "429")
    m.dead_lettered("policy", "invalid_payload")
    assert m.value("fieldsync_events_consumed_total", topic="fieldsync.deltas.crm") == 1
    assert m.value("fieldsync_events_produced_total", topic="fieldsync.applied") == 3
    assert m.value("fieldsync_hop_latency_seconds_count", hop="apply") == 1
    assert m.value("fieldsync_sync_latency_seconds_bucket", direction="to_crm", entity="contact", le="2.5") == 1
    assert m.value("fieldsync_sync_latency_seconds_bucket", direction="to_crm", entity="contact", le="1.0") == 0
    assert m.value("fieldsync_decisions_total", outcome="withheld", reason="direction") == 1
    assert m.value("fieldsync_conflicts_total", rule="latest", winner="crm") == 1
    assert m.value("fieldsync_retries_total", target="exchange", status="429") == 1
    assert m.value("fieldsync_dead_letters_total", service="policy", reason="invalid_payload") == 1


def test_cursor_age_grows_until_the_next_success_and_mailboxes_past_the_cap_share_one_series() -> None:
    now = [1000.0]
    m = Metrics(mailbox_series_cap=2, clock=lambda: now[0])
    for mailbox in ("a@x", "b@x", "c@x", "d@x"):
        m.cursor_ok("exchange", mailbox, "Calendar")
    now[0] += 5
    m.cursor_ok("exchange", "d@x", "Calendar")
    now[0] += 1
    age = "fieldsync_capture_cursor_age_seconds"
    assert m.value(age, source="exchange", mailbox="a@x", folder="Calendar") == 6
    assert m.value(age, source="exchange", mailbox=OTHER_MAILBOXES, folder="Calendar") == 6  # c's, the oldest
    assert m.registry.get_sample_value(age, {"source": "exchange", "mailbox": "c@x", "folder": "Calendar"}) is None
    series = [s for f in m.registry.collect() if f.name == age for s in f.samples]
    assert len(series) == 3


def test_every_exported_name_is_in_the_registry() -> None:
    m = Metrics(process=True)
    m.failing(["throttled"])
    names = {s.name for f in m.registry.collect() for s in f.samples} | {f.name for f in m.registry.collect()}
    missing = [n for n in EXPORTED if n not in names and n.removesuffix("_total") not in names]
    assert not missing


def test_the_metrics_endpoint_serves_the_registry() -> None:
    m = Metrics()
    m.wrote("exchange", "duplicate")
    server = serve_metrics(m, "127.0.0.1", 0)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.stop()
    assert 'fieldsync_writes_total{result="duplicate",target="exchange"} 1.0' in text


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Unavailable(429, None, "too many"), "429"),
        (CrmError(412, None, "precondition"), "412"),
        (Unavailable(0, None, "connection failed"), "unreachable"),
        (ConnectionError("refused"), "unreachable"),
        (RuntimeError("ErrorServerBusy: back off"), "busy"),
        (ValueError("bad"), "error"),
    ],
)
def test_failure_status(exc: BaseException, status: str) -> None:
    assert failure_status(exc) == status


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (RuntimeError("ErrorAccessDenied: Access is denied"), "permission_denied"),
        (RuntimeError("ErrorImpersonateUserDenied"), "permission_denied"),
        (RuntimeError("HTTP 429 Too Many Requests"), "throttled"),
        (RuntimeError("ErrorServerBusy"), "throttled"),
        (ConnectionError("connection refused"), "unreachable"),
        (RuntimeError("HTTP 503"), "unreachable"),
        (RuntimeError("something else"), "error"),
    ],
)
def test_mailbox_errors_are_classified(exc: BaseException, kind: str) -> None:
    assert classify(exc) == kind
