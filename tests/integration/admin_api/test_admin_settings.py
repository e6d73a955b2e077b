"""`GET/PUT /api/v1/settings` and the settings of `PUT /api/v1/policy`, through the ASGI app (real Redis, broker)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.events import OrgSettings
from shared.org_settings import NAMES
from tests.integration.admin_api.serving import Tokens, bearer

pytestmark = pytest.mark.integration

DEFAULTS = OrgSettings().model_dump()


async def state(client: httpx.AsyncClient, tokens: Tokens) -> tuple[dict[str, Any], int, int]:
    """(settings, policy version, history total): what a refused call must leave untouched."""
    shown = (await client.get("/api/v1/settings", headers=bearer(tokens.viewer))).json()
    history = (await client.get("/api/v1/policy/history", headers=bearer(tokens.viewer))).json()
    return shown["settings"], shown["version"], history["total"]


async def test_any_token_views_the_settings_with_their_meaning(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for token in (tokens.viewer, tokens.admin):
        shown = await client.get("/api/v1/settings", headers=bearer(token))
        assert shown.status_code == 200
        body = shown.json()
        assert body["settings"] == DEFAULTS and body["version"] == 1
        assert set(body["meanings"]) == set(NAMES)
    assert (await client.get("/api/v1/settings")).status_code == 401


async def test_an_admin_changes_some_settings_as_one_audited_published_version(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = {"distinct_physical_and_logical_deletes": True, "delete_exchange_tasks_in_crm": False}
    response = await client.put("/api/v1/settings", json=body, headers=bearer(tokens.admin))
    assert response.status_code == 200, response.text
    update = response.json()
    assert (update["version"], update["changed"], update["published"]) == (2, True, True)
    assert update["settings"] == {**DEFAULTS, **body}
    assert [(c["kind"], c["entity"], c["field"], c["old"], c["new"], c["actor"]) for c in update["changes"]] == [
        ("setting", "organisation", "distinct_physical_and_logical_deletes", False, True, tokens.admin_name),
        ("setting", "organisation", "delete_exchange_tasks_in_crm", True, False, tokens.admin_name),
    ]
    policy = (await client.get("/api/v1/policy", headers=bearer(tokens.viewer))).json()
    assert policy["version"] == 2 and policy["settings"] == update["settings"]
    history = (await client.get("/api/v1/policy/history", headers=bearer(tokens.viewer))).json()
    assert history["total"] == 2 and {e["kind"] for e in history["entries"]} == {"setting"}
    again = (await client.put("/api/v1/settings", json=body, headers=bearer(tokens.admin))).json()
    assert (again["version"], again["changed"], again["changes"]) == (2, False, [])
    # A direction change later keeps the settings (one policy, one version line).
    phone = "/api/v1/entities/contact/fields/telephone1/direction"
    assert (await client.put(phone, json={"direction": "to_crm"}, headers=bearer(tokens.admin))).status_code == 200
    assert (await state(client, tokens))[:2] == ({**DEFAULTS, **body}, 3)
    reset = (await client.post("/api/v1/policy/reset", headers=bearer(tokens.admin))).json()
    assert reset["policy"]["settings"] == {**DEFAULTS, **body}


async def test_a_viewer_may_not_change_settings(client: httpx.AsyncClient, tokens: Tokens) -> None:
    before = await state(client, tokens)
    refused = await client.put("/api/v1/settings", json={"track_categorized_items": False},
                               headers=bearer(tokens.viewer))  # fmt: skip
    assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
    assert await state(client, tokens) == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"colour": True}, "unknown setting colour; known settings: distinct_physical_and_logical_deletes"),
        ({"track_categorized_items": False, "colour": True, "size": 1}, "unknown settings colour, size"),
        ({"track_categorized_items": 0}, "track_categorized_items: 0 is not a boolean"),
        ({"track_categorized_items": "false"}, "track_categorized_items: 'false' is not a boolean"),
        ({"track_categorized_items": None}, "track_categorized_items: None is not a boolean"),
        ({"sync_appointment_attachments": True, "track_categorized_items": 1}, "is not a boolean"),
        ([True], "expected a JSON object of setting: true|false"),
    ],
)
async def test_bad_settings_are_refused_whole(
    client: httpx.AsyncClient, tokens: Tokens, body: Any, words: str
) -> None:
    before = await state(client, tokens)
    refused = await client.put("/api/v1/settings", json=body, headers=bearer(tokens.admin))
    assert refused.status_code == 422
    assert words in refused.json()["detail"]
    assert await state(client, tokens) == before  # atomic: the valid part of a bad request is not applied


async def test_a_body_that_is_not_json_is_400(client: httpx.AsyncClient, tokens: Tokens) -> None:
    refused = await client.put("/api/v1/settings", content=b"{not json", headers={
        **bearer(tokens.admin), "Content-Type": "application/json"})  # fmt: skip
    assert refused.status_code == 400 and "not JSON" in refused.json()["detail"]


async def test_settings_travel_with_a_policy_change_atomically(client: httpx.AsyncClient, tokens: Tokens) -> None:
    body = {"changes": [{"entity": "task", "field": "subject", "direction": "none"}],
            "settings": {"track_categorized_items": False}, "expected_version": 1}  # fmt: skip
    update = (await client.put("/api/v1/policy", json=body, headers=bearer(tokens.admin))).json()
    assert update["policy"]["version"] == 2 and update["policy"]["settings"]["track_categorized_items"] is False
    assert update["policy"]["directions"]["task"]["subject"] == "none"
    before = await state(client, tokens)
    bad = {"changes": [{"entity": "task", "field": "subject", "direction": "both"}], "settings": {"colour": True}}
    refused = await client.put("/api/v1/policy", json=bad, headers=bearer(tokens.admin))
    assert refused.status_code == 422 and "colour" in refused.json()["detail"]
    assert await state(client, tokens) == before
    only = await client.put("/api/v1/policy", json={"settings": {"track_categorized_items": True}},
                            headers=bearer(tokens.admin))  # fmt: skip
    assert only.status_code == 200 and only.json()["policy"]["version"] == 3


async def test_the_attachments_field_follows_its_setting(client: httpx.AsyncClient, tokens: Tokens) -> None:
    async def pair() -> dict[str, Any]:
        fields = (await client.get("/api/v1/entities/appointment/fields", headers=bearer(tokens.viewer))).json()
        found: dict[str, Any] = next(f for f in fields if f["field"] == "attachments")
        assert found["crm_writable"] and found["exchange_writable"] and not found["changeable"]
        return found

    off = await pair()
    assert off["direction"] == "none" and "sync_appointment_attachments is off" in off["setting_note"]
    await client.put("/api/v1/settings", json={"sync_appointment_attachments": True}, headers=bearer(tokens.admin))
    on = await pair()
    assert on["direction"] == "both" and "sync both ways" in on["setting_note"]
    fields = (await client.get("/api/v1/entities/contact/fields", headers=bearer(tokens.viewer))).json()
    assert all(f["setting_note"] is None for f in fields)
