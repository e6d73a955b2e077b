"""The CRM sandbox never answers 500 to bad input, and refuses expired tokens (real HTTP, generated input)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings

pytestmark = pytest.mark.integration

FORM = {"grant_type": "client_credentials", "client_id": "fieldsync", "client_secret": "sandbox-secret"}
NAMES = st.sampled_from(["lastname", "firstname", "fullname", "bogus", "statecode", "contactid", "@odata.type"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FILTER_WORDS = st.sampled_from(
    ["lastname", "bogus", "eq", "ne", "gt", "and", "or", "(", ")", "'x'", "'", "null", "true", "3", "-1.5", "in"]
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), port=0) as urls:
        access = httpx.post(urls.token_url, data=FORM).json()["access_token"]
        with httpx.Client(base_url=urls.api_url, headers={"Authorization": f"Bearer {access}"}) as client:
            yield client


@FUZZ
@given(body=st.dictionaries(NAMES, JSON_VALUES, max_size=4) | JSON_VALUES)
def test_generated_bodies_are_stored_or_refused_never_a_500(api: httpx.Client, body: object) -> None:
    response = api.post("contacts", content=json.dumps(body).encode())
    assert response.status_code in (204, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["message"]


@FUZZ
@given(words=st.lists(FILTER_WORDS, max_size=8), raw=st.text(max_size=30))
def test_generated_filters_and_selects_never_a_500(api: httpx.Client, words: list[str], raw: str) -> None:
    for params in ({"$filter": " ".join(words)}, {"$filter": raw}, {"$select": raw}, {"$skiptoken": raw}):
        response = api.get("contacts", params=params)
        assert response.status_code in (200, 400), (params, response.text)


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b"", b"null", b'"text"', b'{"lastname": NaN}', b'{"lastname": -Infinity}'],
)
def test_hostile_bodies_are_400(api: httpx.Client, body: bytes) -> None:
    assert api.post("contacts", content=body).status_code == 400


def test_deeply_nested_filters_are_400(api: httpx.Client) -> None:
    deep = "(" * 500 + "lastname eq 'x'" + ")" * 500
    assert api.get("contacts", params={"$filter": deep}).status_code == 400


def test_expired_tokens_are_refused(tmp_path: Path) -> None:
    settings_ = CrmSandboxSettings(data_dir=tmp_path, crm_sandbox_token_ttl_s=0)
    with serve_crm(settings_, port=0) as urls:
        access = httpx.post(urls.token_url, data=FORM).json()["access_token"]
        response = httpx.get(urls.api_url + "contacts", headers={"Authorization": f"Bearer {access}"})
        assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_urls_are_reported(tmp_path: Path) -> None:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as urls:
        assert isinstance(urls, CrmSandboxUrls)
        assert urls.api_url.endswith("/api/data/v9.2/") and urls.token_url.endswith("/oauth2/token")
        assert httpx.get(urls.faults_url).status_code == 200
