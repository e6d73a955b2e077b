"""Change tracking of the CRM sandbox: delta links return exactly what changed, also after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings

pytestmark = pytest.mark.integration

TRACK = {"Prefer": "odata.track-changes"}


def client(urls: CrmSandboxUrls) -> httpx.Client:
    form = {"grant_type": "client_credentials", "client_id": "fieldsync", "client_secret": "sandbox-secret"}
    access = httpx.post(urls.token_url, data=form).json()["access_token"]
    return httpx.Client(base_url=urls.api_url, headers={"Authorization": f"Bearer {access}"})


@pytest.fixture
def settings(tmp_path: Path) -> CrmSandboxSettings:
    return CrmSandboxSettings(data_dir=tmp_path)


@pytest.fixture
def sandbox(settings: CrmSandboxSettings) -> Iterator[tuple[CrmSandboxUrls, httpx.Client]]:
    with serve_crm(settings, port=0) as urls, client(urls) as api:
        yield urls, api


def create(api: httpx.Client, lastname: str) -> str:
    response = api.post("contacts", json={"lastname": lastname})
    assert response.status_code == 204
    return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def follow(api: httpx.Client, url: str, headers: dict[str, str] | None = None) -> tuple[list[Any], str]:
    """Every entry up to the delta link, following nextLinks; returns (entries, deltaLink)."""
    entries: list[Any] = []
    next_url: str | None = url
    while next_url:
        page = api.get(next_url, headers=headers)
        assert page.status_code == 200, page.text
        assert page.headers["Preference-Applied"] == "odata.track-changes"
        body = page.json()
        entries.extend(body["value"])
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        next_url = body["@odata.nextLink"]
    raise AssertionError("no delta link")


def test_initial_query_returns_rows_and_a_delta_link(sandbox: tuple[CrmSandboxUrls, httpx.Client]) -> None:
    urls, api = sandbox
    ids = {create(api, "first"), create(api, "second")}
    response = api.get("contacts", params={"$select": "lastname"}, headers=TRACK)
    body = response.json()
    assert body["@odata.context"] == f"{urls.api_url}$metadata#contacts(lastname)"
    assert {r["contactid"] for r in body["value"]} == ids
    assert "$deltatoken=" in body["@odata.deltaLink"] and "$select=lastname" in body["@odata.deltaLink"]
    token = httpx.URL(body["@odata.deltaLink"]).params["$deltatoken"]
    version, _, stamp = token.partition("!")
    assert version.isdigit() and stamp


def test_delta_link_returns_exactly_the_changes_and_deletions_since(
    sandbox: tuple[CrmSandboxUrls, httpx.Client],
) -> None:
    urls, api = sandbox
    kept, changed, removed = create(api, "kept"), create(api, "changed"), create(api, "removed")
    _, delta = follow(api, "contacts?$select=lastname", TRACK)
    unchanged_delta = api.get(delta).json()
    assert unchanged_delta["value"] == [] and unchanged_delta["@odata.context"].endswith("/$delta")

    api.patch(f"contacts({changed})", json={"lastname": "changed 2"})
    added = create(api, "added")
    assert api.delete(f"contacts({removed})").status_code == 204
    entries, next_delta = follow(api, delta)
    live = [e for e in entries if "reason" not in e]
    assert [(e["contactid"], e["lastname"]) for e in live] == [(changed, "changed 2"), (added, "added")]
    assert entries[-1] == {
        "@odata.context": f"{urls.api_url}$metadata#contacts/$deletedEntity",
        "id": removed,
        "reason": "deleted",
    }
    assert len(entries) == 3 and kept not in {e.get("contactid") for e in entries}
    assert follow(api, next_delta)[0] == []


def test_delta_pages_with_next_links_then_a_delta_link(sandbox: tuple[CrmSandboxUrls, httpx.Client]) -> None:
    _, api = sandbox
    _, delta = follow(api, "contacts?$select=lastname", TRACK)
    created = [create(api, f"paged {n}") for n in range(5)]
    api.delete(f"contacts({created[0]})")
    first = api.get(delta, headers={"Prefer": "odata.maxpagesize=2"}).json()
    assert len(first["value"]) == 2 and "@odata.nextLink" in first and "@odata.deltaLink" not in first
    entries, _ = follow(api, delta, {"Prefer": "odata.maxpagesize=2"})
    assert [e.get("contactid", e.get("id")) for e in entries] == [*created[1:], created[0]]


def test_delta_links_survive_a_sandbox_restart(settings: CrmSandboxSettings) -> None:
    with serve_crm(settings, port=0) as urls, client(urls) as api:
        before = create(api, "before")
        doomed = create(api, "doomed")
        _, delta = follow(api, "contacts?$select=lastname", TRACK)
        api.patch(f"contacts({before})", json={"lastname": "before 2"})
    with serve_crm(settings, port=0) as urls, client(urls) as api:
        api.delete(f"contacts({doomed})")
        after = create(api, "after")
        old_query = delta.split("/api/data/v9.2/", 1)[1]
        entries, _ = follow(api, urls.api_url + old_query)
    assert [(e.get("contactid"), e.get("lastname")) for e in entries[:2]] == [(before, "before 2"), (after, "after")]
    assert entries[2]["id"] == doomed and entries[2]["reason"] == "deleted" and len(entries) == 3


@pytest.mark.parametrize("option", ["$filter=lastname eq 'x'", "$top=1", "$orderby=lastname"])
def test_query_options_not_supported_with_change_tracking(
    sandbox: tuple[CrmSandboxUrls, httpx.Client], option: str
) -> None:
    _, api = sandbox
    response = api.get(f"contacts?$select=lastname&{option}", headers=TRACK)
    assert response.status_code == 400
    name = option.split("=", 1)[0]
    assert response.json()["error"]["message"] == (
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
    )
    _, delta = follow(api, "contacts?$select=lastname", TRACK)
    assert api.get(f"{delta}&{option}").status_code == 400
    assert api.get("contacts?$deltatoken=nonsense").status_code == 400


def test_expired_delta_links_answer_expired_version_stamp_until_tracking_starts_afresh(
    settings: CrmSandboxSettings,
) -> None:
    with serve_crm(settings, port=0) as urls, client(urls) as api:
        kept, doomed = create(api, "kept"), create(api, "doomed")
        _, delta = follow(api, "contacts?$select=lastname", TRACK)
        api.patch(f"contacts({kept})", json={"lastname": "kept 2"})
        api.delete(f"contacts({doomed})")
        paged = api.get(delta, headers={"Prefer": "odata.maxpagesize=1"}).json()
        expired = httpx.post(urls.expire_tracking_url)
        assert expired.status_code == 200 and expired.json()["tracking_floor"] > 0

        for stale in (delta, paged["@odata.nextLink"]):  # a delta link, and the next page of one
            response = api.get(stale)
            assert response.status_code == 400
            assert response.json()["error"] == {
                "code": "0x80044352",
                "message": "Version stamp associated with the client has expired. Please perform a full sync.",
            }
        rows, fresh = follow(api, "contacts?$select=lastname", TRACK)  # a full read: live rows, no tombstones
        assert {r["contactid"] for r in rows} == {kept}
        assert follow(api, fresh)[0] == []
    with serve_crm(settings, port=0) as urls, client(urls) as api:  # the expiry is kept across a restart
        assert api.get(urls.api_url + delta.split("/api/data/v9.2/", 1)[1]).status_code == 400
        assert follow(api, urls.api_url + fresh.split("/api/data/v9.2/", 1)[1])[0] == []
