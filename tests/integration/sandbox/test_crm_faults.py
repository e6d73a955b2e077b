"""Fault knobs on the CRM sandbox over real HTTP: latency, 429 + Retry-After, 503, dropped connections, refused
writes."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import httpx
import pytest

from infra.sandbox.crm.app import create_app
from infra.sandbox.crm.settings import API_PATH, TOKEN_PATH, CrmSandboxSettings
from infra.sandbox.faults import FaultKnobs
from infra.sandbox.serving import serve

pytestmark = pytest.mark.integration

FORM = {"grant_type": "client_credentials", "client_id": "fieldsync", "client_secret": "sandbox-secret"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), rng=random.Random(7))
    with serve(app, port=0) as base_url:
        yield base_url


@pytest.fixture
def api(root: str) -> Iterator[httpx.Client]:
    access = httpx.post(root + TOKEN_PATH, data=FORM).json()["access_token"]
    with httpx.Client(base_url=root + API_PATH, headers={"Authorization": f"Bearer {access}"}) as client:
        yield client
    # Every test leaves the knobs off for the next one.
    assert httpx.put(root + "/_sandbox/faults", json={}).status_code == 200


def set_faults(root: str, **knobs: object) -> None:
    response = httpx.put(root + "/_sandbox/faults", json=knobs)
    assert response.status_code == 200, response.text


def test_faults_are_off_by_default_and_readable(root: str, api: httpx.Client) -> None:
    assert httpx.get(root + "/_sandbox/faults").json() == FaultKnobs().model_dump()
    assert api.get("contacts").status_code == 200


@pytest.mark.parametrize(
    "knobs", [{"throttle_ratio": 1.5}, {"drop_ratio": -0.1}, {"latency_ms": -1}, {"bogus": 1}, {"retry_after_s": "x"}]
)
def test_bad_knob_values_are_refused_with_422(root: str, knobs: dict[str, object]) -> None:
    assert httpx.put(root + "/_sandbox/faults", json=knobs).status_code == 422
    assert httpx.get(root + "/_sandbox/faults").json() == FaultKnobs().model_dump()


def test_throttle_at_ratio_one_answers_429_with_retry_after(root: str, api: httpx.Client) -> None:
    set_faults(root, throttle_ratio=1.0, retry_after_s=3)
    response = api.get("contacts")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert response.json()["error"]["code"]


def test_unavailable_at_ratio_one_answers_503(root: str, api: httpx.Client) -> None:
    set_faults(root, unavailable_ratio=1.0)
    assert api.get("contacts").status_code == 503


def test_dropped_connections_raise_a_transport_error(root: str, api: httpx.Client) -> None:
    set_faults(root, drop_ratio=1.0)
    # No status line at all: the connection closes before any byte of a response.
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        api.get("contacts")


def test_latency_delays_answers(root: str, api: httpx.Client) -> None:
    set_faults(root, latency_ms=300)
    started = time.monotonic()
    assert api.get("contacts").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_admin_and_token_endpoints_are_exempt(root: str, api: httpx.Client) -> None:
    set_faults(root, drop_ratio=1.0, unavailable_ratio=1.0, throttle_ratio=1.0)
    assert httpx.post(root + TOKEN_PATH, data=FORM).status_code == 200
    assert httpx.get(root + "/_sandbox/faults").json()["drop_ratio"] == 1.0


def test_partial_ratios_follow_the_injected_randomness(root: str, api: httpx.Client) -> None:
    set_faults(root, throttle_ratio=0.5)
    statuses = [api.get("contacts", params={"$top": "1"}).status_code for _ in range(40)]
    assert set(statuses) == {200, 429}


def test_faults_can_be_configured_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSYNC_CRM_SANDBOX_FAULTS", '{"latency_ms": 50, "throttle_ratio": 0.25}')
    knobs = CrmSandboxSettings().crm_sandbox_faults
    assert knobs == FaultKnobs(latency_ms=50, throttle_ratio=0.25)


def test_refused_writes_answer_400_without_retry_after_while_reads_and_tokens_still_work(
    root: str, api: httpx.Client
) -> None:
    set_faults(root, refuse_writes=True)
    refused = api.post("contacts", json={"lastname": "Refused"})
    assert refused.status_code == 400 and "retry-after" not in refused.headers
    assert refused.json()["error"]["message"] == "Writes refused (sandbox fault)"
    assert api.get("contacts").status_code == 200
    assert httpx.post(root + TOKEN_PATH, data=FORM).status_code == 200
    set_faults(root)
    assert api.post("contacts", json={"lastname": "Accepted"}).status_code in (201, 204)
