"""Every route and status code of the admin API, through the ASGI app on a real Redis and broker."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from shared.catalogue import load_catalogue
from tests.integration.admin_api.serving import Tokens, bearer

pytestmark = pytest.mark.integration

FIELD_KEYS = {
    "field", "crm_field", "crm_attributes", "exchange_field", "exchange_properties",
    "direction", "default_direction", "changeable", "allowed_directions",
}
PHONE = "/api/v1/entities/contact/fields/telephone1/direction"


async def snapshot(client: httpx.AsyncClient, tokens: Tokens) -> tuple[int, int, dict[str, Any], dict[str, str]]:
    """(policy version, history total, directions, conflict rules): what a refused call must leave untouched."""
    policy = (await client.get("/api/v1/policy", headers=bearer(tokens.viewer))).json()
    history = (await client.get("/api/v1/policy/history", headers=bearer(tokens.viewer))).json()
    return policy["version"], history["total"], policy["directions"], policy["conflict_rules"]


async def test_probes_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok", "broker": "ok"}}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer"}],
)
async def test_401_without_a_valid_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/api/v1/entities"), ("GET", "/api/v1/policy"), ("POST", "/api/v1/policy/reset"),
                         ("GET", "/api/v1/conflicts"), ("PUT", "/api/v1/entities/contact/conflict-rule")]:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert isinstance(response.json()["detail"], str)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_entities_and_fields(client: httpx.AsyncClient, tokens: Tokens) -> None:
    entities = (await client.get("/api/v1/entities", headers=bearer(tokens.viewer))).json()
    assert len(entities) == 8 and sum(e["field_count"] for e in entities) == 98
    assert {"name": "contact", "display_name": "Contact", "field_count": 34} in entities
    fields = (await client.get("/api/v1/entities/appointment/fields", headers=bearer(tokens.viewer))).json()
    assert len(fields) == len(load_catalogue().entities["appointment"].fields)
    time_pair = next(f for f in fields if f["field"] == "appointment_time")
    assert set(time_pair) >= FIELD_KEYS
    assert time_pair["exchange_properties"] == ["start", "end", "duration", "is_all_day"]
    assert (time_pair["direction"], time_pair["changeable"]) == ("both", False)
    missing = await client.get("/api/v1/entities/lead/fields", headers=bearer(tokens.viewer))
    assert missing.status_code == 404 and "unknown entity 'lead'" in missing.json()["detail"]


async def test_admin_sets_a_direction_with_audit(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.put(PHONE, json={"direction": "to_crm"}, headers=bearer(tokens.admin))
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["changed"], body["published"]) == (2, True, True)
    assert body["field"]["direction"] == "to_crm" and body["field"]["default_direction"] == "both"
    policy = (await client.get("/api/v1/policy", headers=bearer(tokens.viewer))).json()
    assert policy["version"] == 2 and policy["updated_by"] == tokens.admin_name
    assert policy["directions"]["contact"]["telephone1"] == "to_crm"
    history = (await client.get("/api/v1/policy/history", headers=bearer(tokens.viewer))).json()
    assert history["total"] == 1
    entry = history["entries"][0]
    assert {k: entry[k] for k in ("version", "actor", "entity", "field", "old", "new")} == {
        "version": 2, "actor": tokens.admin_name, "entity": "contact", "field": "telephone1",
        "old": "both", "new": "to_crm",
    }
    again = (await client.put(PHONE, json={"direction": "to_crm"}, headers=bearer(tokens.admin))).json()
    assert (again["version"], again["changed"], again["published"]) == (2, False, False)
    assert (await snapshot(client, tokens))[:2] == (2, 1)


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/api/v1/entities/contact/fields/nope/direction", {"direction": "both"}, 404, "no synchronized field"),
        ("/api/v1/entities/lead/fields/telephone1/direction", {"direction": "both"}, 404, "unknown entity"),
        ("/api/v1/entities/contact/fields/fullname/direction", {"direction": "none"}, 409, "fixed"),
        ("/api/v1/entities/serviceappointment/fields/subject/direction", {"direction": "both"}, 409, "fixed"),
        (PHONE, {"direction": "sideways"}, 422, "body.direction"),
        (PHONE, {}, 422, "body.direction"),
        (PHONE, {"direction": "none", "extra": 1}, 422, "body.extra"),
        (PHONE, None, 422, "invalid request"),
    ],
)
async def test_refused_direction_changes_change_nothing(
    client: httpx.AsyncClient, tokens: Tokens, path: str, body: Any, status: int, detail: str
) -> None:
    before = await snapshot(client, tokens)
    response = await client.put(path, json=body, headers=bearer(tokens.admin))
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert await snapshot(client, tokens) == before


async def test_viewer_cannot_change_anything(client: httpx.AsyncClient, tokens: Tokens) -> None:
    before = await snapshot(client, tokens)
    viewer = bearer(tokens.viewer)
    calls = [
        client.put(PHONE, json={"direction": "none"}, headers=viewer),
        client.put("/api/v1/policy", json={"changes": [{"entity": "contact", "field": "telephone1",
                                                          "direction": "none"}]}, headers=viewer),
        client.post("/api/v1/policy/reset", headers=viewer),
        client.put("/api/v1/entities/contact/conflict-rule", json={"rule": "crm_wins"}, headers=viewer),
    ]
    for response in await asyncio.gather(*calls):
        assert response.status_code == 403 and "viewer" in response.json()["detail"]
    assert await snapshot(client, tokens) == before


async def test_policy_changes_apply_all_or_nothing(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    good = [{"entity": "contact", "field": "telephone1", "direction": "none"},
            {"entity": "task", "field": "subject", "direction": "to_exchange"}]
    before = await snapshot(client, tokens)
    for changes, status in [
        ([*good, {"entity": "contact", "field": "fullname", "direction": "none"}], 409),
        ([*good, {"entity": "contact", "field": "nope", "direction": "none"}], 404),
        ([*good, good[0]], 409),
        ([], 422),
    ]:
        response = await client.put("/api/v1/policy", json={"changes": changes}, headers=admin)
        assert response.status_code == status, response.text
    assert await snapshot(client, tokens) == before
    response = await client.put("/api/v1/policy", json={"changes": good, "expected_version": 1}, headers=admin)
    assert response.status_code == 200
    policy = response.json()["policy"]
    assert policy["version"] == 2
    assert policy["directions"]["task"]["subject"] == "to_exchange"
    assert (await snapshot(client, tokens))[:2] == (2, 2)
    stale = await client.put("/api/v1/policy", json={"changes": good, "expected_version": 1}, headers=admin)
    assert stale.status_code == 409 and "not the expected 1" in stale.json()["detail"]
    assert (await snapshot(client, tokens))[:2] == (2, 2)


async def test_concurrent_admins_with_the_same_version_one_wins(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    def put(direction: str) -> Any:
        body = {"changes": [{"entity": "contact", "field": "telephone1", "direction": direction}],
                "expected_version": 1}
        return client.put("/api/v1/policy", json=body, headers=bearer(tokens.admin))

    first, second = await asyncio.gather(put("to_crm"), put("none"))
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner = first if first.status_code == 200 else second
    version, total, directions, _rules = await snapshot(client, tokens)
    assert (version, total) == (2, 1)
    assert directions["contact"]["telephone1"] == winner.json()["policy"]["directions"]["contact"]["telephone1"]


async def test_history_is_paginated_newest_first(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for direction in ("to_crm", "none", "to_exchange"):
        await client.put(PHONE, json={"direction": direction}, headers=bearer(tokens.admin))
    viewer = bearer(tokens.viewer)
    page = (await client.get("/api/v1/policy/history?offset=0&limit=2", headers=viewer)).json()
    assert page["total"] == 3 and [e["version"] for e in page["entries"]] == [4, 3]
    rest = (await client.get("/api/v1/policy/history?offset=2&limit=2", headers=viewer)).json()
    assert [(e["old"], e["new"]) for e in rest["entries"]] == [("both", "to_crm")]
    beyond = (await client.get("/api/v1/policy/history?offset=9", headers=viewer)).json()
    assert beyond["entries"] == [] and beyond["total"] == 3
    for query in ("limit=0", "offset=-1", "limit=501", "limit=abc"):
        response = await client.get(f"/api/v1/policy/history?{query}", headers=viewer)
        assert response.status_code == 422 and isinstance(response.json()["detail"], str)


async def test_reset_returns_to_defaults_as_one_version(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    changes = [{"entity": "contact", "field": "telephone1", "direction": "none"},
               {"entity": "task", "field": "subject", "direction": "to_crm"}]
    await client.put("/api/v1/policy", json={"changes": changes}, headers=admin)
    response = await client.post("/api/v1/policy/reset", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["changed"] is True and body["policy"]["version"] == 3
    assert body["policy"]["directions"] == load_catalogue().default_directions()
    history = (await client.get("/api/v1/policy/history", headers=admin)).json()
    reset_entries = [e for e in history["entries"] if e["version"] == 3]
    assert {(e["field"], e["new"]) for e in reset_entries} == {("telephone1", "both"), ("subject", "both")}
    noop = (await client.post("/api/v1/policy/reset", headers=admin)).json()
    assert (noop["changed"], noop["policy"]["version"]) == (False, 3)
