"""Conflict rules through the admin API on a real Redis and broker: shown, set, audited, applied, reset, refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from shared import redis_keys
from shared.catalogue import load_catalogue
from tests.integration.admin_api.serving import Tokens, bearer

pytestmark = pytest.mark.integration

CATALOGUE = load_catalogue()
DEFAULTS = {name: "latest" for name in CATALOGUE.entities}
CONTACT_RULE = "/api/v1/entities/contact/conflict-rule"
PHONE = {"entity": "contact", "field": "telephone1", "direction": "none"}


async def snapshot(client: httpx.AsyncClient, tokens: Tokens) -> tuple[int, int, Any, Any]:
    """(version, history total, directions, rules): what a refused call must leave untouched."""
    policy = (await client.get("/api/v1/policy", headers=bearer(tokens.viewer))).json()
    history = (await client.get("/api/v1/policy/history", headers=bearer(tokens.viewer))).json()
    return policy["version"], history["total"], policy["directions"], policy["conflict_rules"]


async def test_the_policy_shows_every_entitys_rule(client: httpx.AsyncClient, tokens: Tokens) -> None:
    policy = (await client.get("/api/v1/policy", headers=bearer(tokens.viewer))).json()
    assert policy["conflict_rules"] == DEFAULTS and len(DEFAULTS) == 8


async def test_a_policy_stored_without_rules_is_shown_with_the_defaults(
    client: httpx.AsyncClient, tokens: Tokens, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        stored = json.loads(await redis.get(redis_keys.POLICY) or b"{}")
        del stored["conflict_rules"]  # as the release before conflict rules stored it
        await redis.set(redis_keys.POLICY, json.dumps(stored))
    finally:
        await redis.aclose()
    policy = (await client.get("/api/v1/policy", headers=bearer(tokens.viewer))).json()
    assert policy["version"] == 1 and policy["conflict_rules"] == DEFAULTS


async def test_admin_sets_a_rule_with_audit_and_again_is_a_no_op(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.put(CONTACT_RULE, json={"rule": "crm_wins"}, headers=bearer(tokens.admin))
    assert response.status_code == 200
    assert response.json() == {"entity": "contact", "rule": "crm_wins", "default_rule": "latest", "version": 2,
                               "changed": True, "published": True}
    version, total, _, rules = await snapshot(client, tokens)
    assert (version, total, rules) == (2, 1, {**DEFAULTS, "contact": "crm_wins"})
    entry = (await client.get("/api/v1/policy/history", headers=bearer(tokens.viewer))).json()["entries"][0]
    assert {k: entry[k] for k in ("version", "actor", "kind", "entity", "field", "old", "new")} == {
        "version": 2, "actor": tokens.admin_name, "kind": "conflict_rule", "entity": "contact", "field": None,
        "old": "latest", "new": "crm_wins",
    }
    again = (await client.put(CONTACT_RULE, json={"rule": "crm_wins"}, headers=bearer(tokens.admin))).json()
    assert (again["version"], again["changed"], again["published"]) == (2, False, False)
    assert (await snapshot(client, tokens))[:2] == (2, 1)


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/api/v1/entities/lead/conflict-rule", {"rule": "crm_wins"}, 404, "unknown entity 'lead'"),
        (CONTACT_RULE, {"rule": "newest"}, 422, "body.rule"),
        (CONTACT_RULE, {}, 422, "body.rule"),
        (CONTACT_RULE, {"rule": "crm_wins", "extra": 1}, 422, "body.extra"),
        (CONTACT_RULE, None, 422, "invalid request"),
    ],
)
async def test_refused_rule_changes_change_nothing(
    client: httpx.AsyncClient, tokens: Tokens, path: str, body: Any, status: int, detail: str
) -> None:
    before = await snapshot(client, tokens)
    response = await client.put(path, json=body, headers=bearer(tokens.admin))
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert await snapshot(client, tokens) == before


async def test_a_rule_needs_an_admin_token(client: httpx.AsyncClient, tokens: Tokens) -> None:
    before = await snapshot(client, tokens)
    for headers, status in [({}, 401), ({"Authorization": "Bearer wrong"}, 401), (bearer(tokens.viewer), 403)]:
        response = await client.put(CONTACT_RULE, json={"rule": "exchange_wins"}, headers=headers)
        assert response.status_code == status and isinstance(response.json()["detail"], str)
    viewer = await client.put("/api/v1/policy", json={"rule_changes": [{"entity": "task", "rule": "crm_wins"}]},
                              headers=bearer(tokens.viewer))
    assert viewer.status_code == 403 and "viewer" in viewer.json()["detail"]
    assert await snapshot(client, tokens) == before


async def test_directions_and_rules_apply_together_or_not_at_all(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    rules = [{"entity": "task", "rule": "exchange_wins"}, {"entity": "contact", "rule": "crm_wins"}]
    before = await snapshot(client, tokens)
    for body, status in [
        ({"changes": [PHONE], "rule_changes": [*rules, {"entity": "lead", "rule": "latest"}]}, 404),
        ({"changes": [PHONE], "rule_changes": [*rules, rules[0]]}, 409),
        ({"changes": [{**PHONE, "field": "fullname"}], "rule_changes": rules}, 409),
        ({"changes": [PHONE], "rule_changes": [{"entity": "task", "rule": "oldest"}]}, 422),
        ({"changes": [], "rule_changes": []}, 422),
        ({}, 422),
    ]:
        response = await client.put("/api/v1/policy", json=body, headers=admin)
        assert response.status_code == status, (body, response.text)
    assert await snapshot(client, tokens) == before
    body = {"changes": [PHONE], "rule_changes": rules, "expected_version": 1}
    response = await client.put("/api/v1/policy", json=body, headers=admin)
    assert response.status_code == 200
    policy = response.json()["policy"]
    assert policy["version"] == 2 and policy["directions"]["contact"]["telephone1"] == "none"
    assert policy["conflict_rules"] == {**DEFAULTS, "task": "exchange_wins", "contact": "crm_wins"}
    assert (await snapshot(client, tokens))[:2] == (2, 3)
    stale = await client.put("/api/v1/policy", json={"rule_changes": [{"entity": "fax", "rule": "crm_wins"}],
                                                     "expected_version": 1}, headers=admin)
    assert stale.status_code == 409 and "not the expected 1" in stale.json()["detail"]
    only_rules = await client.put("/api/v1/policy", json={"rule_changes": [{"entity": "fax", "rule": "crm_wins"}]},
                                  headers=admin)
    assert only_rules.json()["policy"]["version"] == 3
    assert (await snapshot(client, tokens))[:2] == (3, 4)


async def test_concurrent_admins_setting_rules_both_land(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    await asyncio.gather(*(client.put(f"/api/v1/entities/{entity}/conflict-rule", json={"rule": "exchange_wins"},
                                      headers=admin) for entity in ("task", "fax", "letter")))
    version, total, _, rules = await snapshot(client, tokens)
    assert (version, total) == (4, 3)
    assert rules == {**DEFAULTS, "task": "exchange_wins", "fax": "exchange_wins", "letter": "exchange_wins"}


async def test_reset_puts_every_rule_back_to_latest(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    await client.put("/api/v1/policy", json={"changes": [PHONE], "rule_changes": [
        {"entity": "contact", "rule": "crm_wins"}, {"entity": "appointment", "rule": "exchange_wins"}]}, headers=admin)
    body = (await client.post("/api/v1/policy/reset", headers=admin)).json()
    assert body["changed"] is True and body["policy"]["version"] == 3
    assert body["policy"]["conflict_rules"] == DEFAULTS
    assert body["policy"]["directions"] == CATALOGUE.default_directions()
    history = (await client.get("/api/v1/policy/history", headers=admin)).json()
    reset = {(e["kind"], e["entity"], e["new"]) for e in history["entries"] if e["version"] == 3}
    assert reset == {("direction", "contact", "both"), ("conflict_rule", "contact", "latest"),
                     ("conflict_rule", "appointment", "latest")}
    noop = (await client.post("/api/v1/policy/reset", headers=admin)).json()
    assert (noop["changed"], noop["policy"]["version"]) == (False, 3)
