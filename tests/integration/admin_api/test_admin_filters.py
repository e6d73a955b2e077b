"""The sync filter routes and `fieldsync filters` against the real sandbox CRM: each user's filters parsed or
refused by name, and a filter's preview under the user's record security (own, shared, team-owned records), with
what would enter and leave; 404, 403 and 422 refusals, and nothing changed by any of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from infra.sandbox.crm.filter_sets import OUTLOOK_FILTERS, template_fetchxml
from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from services.admin_api.main import create_app
from services.cli.main import app as cli
from tests.integration.admin_api.serving import Tokens, admin_settings, bearer, serve
from tests.integration.sandbox.crm_admin import SALES, Admin

pytestmark = pytest.mark.integration

ACTIVE = ('<fetch><entity name="contact"><filter type="and">'
          '<condition attribute="statecode" operator="eq" value="0"/></filter></entity></fetch>')  # fmt: skip
TEAMS = ('<fetch><entity name="contact"><filter><condition attribute="ownerid" operator="eq-userteams"/></filter>'
         "</entity></fetch>")  # fmt: skip
TODAY = ('<fetch><entity name="contact"><filter><condition attribute="createdon" operator="today"/></filter>'
         "</entity></fetch>")  # fmt: skip
MY_ACTIVE = template_fetchxml("contact", "fullname", '<condition attribute="ownerid" operator="eq-userid" />'
                              '<condition attribute="statecode" operator="eq" value="0" />')  # fmt: skip


@dataclass(frozen=True)
class Org:
    """alice and bob, Salespersons (Basic); alice is in a team owning one contact. alice owns an active and an
    inactive contact, bob an active one shared with alice (read) and one he keeps to himself."""

    admin: Admin
    alice: str
    bob: str
    mailbox: dict[str, str]
    contacts: dict[str, str]


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmSandboxUrls]:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), port=0) as urls:
        yield urls


def _filter(admin: Admin, owner: str, name: str, fetchxml: str) -> str:
    return admin.create("userqueries", {"name": name, "querytype": OUTLOOK_FILTERS, "returnedtypecode": "contact",
                                        "fetchxml": fetchxml, "ownerid@odata.bind": f"/systemusers({owner})"})


@pytest.fixture(scope="module")
def org(crm: CrmSandboxUrls) -> Iterator[Org]:
    admin = Admin(crm)
    seller = admin.role(SALES, name="Salesperson")
    alice, bob = admin.user("alice", admin.root, seller), admin.user("bob", admin.root, seller)
    team = admin.team(admin.root, members=(alice,))
    contacts = {
        "alice active": admin.contact(alice, firstname="Ann", lastname="Active"),
        "alice inactive": admin.contact(alice, firstname="Ida", lastname="Inactive"),
        "bob shared": admin.contact(bob, firstname="Sam", lastname="Shared"),
        "bob private": admin.contact(bob, firstname="Pat", lastname="Private"),
        "team": admin.contact(f"teams({team})", firstname="Tea", lastname="Team"),
    }
    admin.http.patch(f"contacts({contacts['alice inactive']})", json={"statecode": 1, "statuscode": 2})
    admin.share(contacts["bob shared"], alice, "ReadAccess")
    _filter(admin, alice, "My Active Contacts", MY_ACTIVE)
    _filter(admin, alice, "Created today", TODAY)
    mailbox = {name: admin.login(user) for name, user in (("alice", alice), ("bob", bob))}
    yield Org(admin, alice, bob, mailbox, contacts)
    admin.close()


@pytest.fixture
def settings(redis_url: str, kafka_bootstrap: str, tokens: Tokens, crm: CrmSandboxUrls) -> Any:
    return admin_settings(redis_url, kafka_bootstrap, tokens, crm_base_url=crm.api_url, crm_token_url=crm.token_url)


@pytest.fixture
async def api(settings: Any, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    application: FastAPI = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin-api",
                                     headers=bearer(tokens.admin)) as http:  # fmt: skip
            yield http


def _state(org: Org) -> list[tuple[str, Any]]:
    """Every filter and contact with its version: what 'nothing changed' compares."""
    rows = org.admin.http.get("userqueries", params={"$select": "versionnumber"}).json()["value"]
    rows += org.admin.http.get("contacts", params={"$select": "versionnumber"}).json()["value"]
    return sorted((r.get("userqueryid") or r["contactid"], r["versionnumber"]) for r in rows)


async def test_each_users_filters_are_listed_parsed_or_refused_by_name(api: httpx.AsyncClient, org: Org,
                                                                       tokens: Tokens) -> None:
    answer = await api.get("/api/v1/filters", params={"mailbox": org.mailbox["alice"].upper()},
                           headers=bearer(tokens.viewer))  # fmt: skip
    assert answer.status_code == 200, answer.text
    (alice,) = answer.json()["mailboxes"]
    assert alice["user_id"] == org.alice
    found = {f["name"]: f for f in alice["filters"]}
    mine, today = found["My Active Contacts"], found["Created today"]
    assert mine["applies"] and mine["kind"] == "user" and mine["parsed"]["filter"]["conditions"] == [
        {"attribute": "ownerid", "operator": "eq-userid", "values": []},
        {"attribute": "statecode", "operator": "eq", "values": ["0"]}]
    assert today["enabled"] and not today["applies"] and today["parsed"] is None
    assert today["error_operator"] == "today" and "'today'" in today["error"]

    every = (await api.get("/api/v1/filters")).json()["mailboxes"]
    listed = {m["mailbox"]: m for m in every}
    assert {org.mailbox["alice"], org.mailbox["bob"]} <= set(listed)
    assert listed[org.mailbox["bob"]]["filters"] == []
    assert not [m for m in every if m["mailbox"].startswith("fieldsync@")]  # the application user has no mailbox
    missing = await api.get("/api/v1/filters", params={"mailbox": "nobody@sandbox.local"})
    assert missing.status_code == 404 and "nobody@sandbox.local" in missing.json()["detail"]


async def test_the_preview_is_what_the_user_may_read_and_the_filter_matches(api: httpx.AsyncClient, org: Org) -> None:
    before = _state(org)
    body = {"mailbox": org.mailbox["alice"], "entity": "contact", "fetchxml": ACTIVE}
    answer = await api.post("/api/v1/filters/preview", json=body)
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    c = org.contacts
    # Her active contact, bob's shared one, the team's; not her inactive one; never bob's private one.
    assert [(r["id"], r["name"]) for r in preview["records"]] == [
        (c["alice active"], "Ann Active"), (c["bob shared"], "Sam Shared"), (c["team"], "Tea Team")]
    assert (preview["total"], preview["readable"]) == (3, 4)
    # Today: "My Active Contacts" brings her own active one; the other two would enter, none leave.
    assert (preview["current_total"], preview["entering"], preview["leaving"]) == (1, 2, 0)
    assert [f["name"] for f in preview["compared_with"]] == ["My Active Contacts"]

    paged = (await api.post("/api/v1/filters/preview", json={**body, "page": 2, "page_size": 2})).json()
    assert [r["id"] for r in paged["records"]] == [c["team"]] and paged["total"] == 3
    teams = (await api.post("/api/v1/filters/preview", json={**body, "fetchxml": TEAMS})).json()
    assert [r["id"] for r in teams["records"]] == [c["team"]] and (teams["entering"], teams["leaving"]) == (1, 1)
    bob = (await api.post("/api/v1/filters/preview", json={**body, "mailbox": org.mailbox["bob"]})).json()
    assert {r["id"] for r in bob["records"]} == {c["bob shared"], c["bob private"]} and bob["current_total"] == 0
    assert _state(org) == before  # nothing was changed


async def test_a_revoked_share_leaves_the_preview(api: httpx.AsyncClient, org: Org) -> None:
    extra = org.admin.contact(org.bob, firstname="Rae", lastname="Revoked")
    org.admin.share(extra, org.alice, "ReadAccess")
    body = {"mailbox": org.mailbox["alice"], "entity": "contact", "fetchxml": ACTIVE}
    assert extra in {r["id"] for r in (await api.post("/api/v1/filters/preview", json=body)).json()["records"]}
    revoke = org.admin.http.post("RevokeAccess", json={
        "Target": {"contactid": extra, "@odata.type": "Microsoft.Dynamics.CRM.contact"},
        "Revokee": {"systemuserid": org.alice, "@odata.type": "Microsoft.Dynamics.CRM.systemuser"}})
    assert revoke.status_code == 204, revoke.text
    assert extra not in {r["id"] for r in (await api.post("/api/v1/filters/preview", json=body)).json()["records"]}


@pytest.mark.parametrize(("change", "status", "named"), [
    ({"fetchxml": TODAY}, 422, "'today'"),
    ({"fetchxml": "<fetch><entity name='contact'>"}, 422, "malformed FetchXML"),
    ({"fetchxml": ACTIVE.replace("contact", "task")}, 422, "queries task, the preview is for contact"),
    ({"mailbox": "nobody@sandbox.local"}, 404, "nobody@sandbox.local"),
    ({"entity": "widget"}, 404, "unknown entity 'widget'"),
    ({"page_size": 201}, 422, "page_size"),
])
async def test_bad_previews_are_refused_with_the_reason(api: httpx.AsyncClient, org: Org, change: dict[str, Any],
                                                        status: int, named: str) -> None:
    before = _state(org)
    body = {"mailbox": org.mailbox["alice"], "entity": "contact", "fetchxml": ACTIVE, **change}
    answer = await api.post("/api/v1/filters/preview", json=body)
    assert answer.status_code == status and named in answer.json()["detail"], answer.text
    assert _state(org) == before


async def test_only_admins_preview(api: httpx.AsyncClient, org: Org, tokens: Tokens) -> None:
    body = {"mailbox": org.mailbox["alice"], "entity": "contact", "fetchxml": ACTIVE}
    viewer = await api.post("/api/v1/filters/preview", json=body, headers=bearer(tokens.viewer))
    assert viewer.status_code == 403
    anonymous = await api.post("/api/v1/filters/preview", json=body, headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_the_cli_shows_filters_and_previews_a_file(settings: Any, org: Org, tokens: Tokens, tmp_path: Path) -> None:
    runner = CliRunner()
    candidate = tmp_path / f"active-{uuid.uuid4().hex[:6]}.xml"
    candidate.write_text(ACTIVE, encoding="utf-8")
    with serve(settings) as url:
        common = ["--url", url, "--token", tokens.admin]
        shown = runner.invoke(cli, ["filters", "show", "--mailbox", org.mailbox["alice"], *common])
        assert shown.exit_code == 0, shown.output
        assert "My Active Contacts [user, applies]" in shown.output
        assert "ownerid eq-userid and statecode eq 0" in shown.output
        assert "Created today [user, NOT APPLIED]" in shown.output and "operator 'today'" in shown.output

        args = ["filters", "preview", "--mailbox", org.mailbox["alice"], "--entity", "contact", *common]
        previewed = runner.invoke(cli, [*args, str(candidate)])
        assert previewed.exit_code == 0, previewed.output
        assert "contact filter for " + org.mailbox["alice"] + ": statecode eq 0" in previewed.output
        assert "3 of the 4 records the user may read match; page 1 of 1:" in previewed.output
        assert "Sam Shared" in previewed.output and "Pat Private" not in previewed.output
        assert "bring 1; with this filter instead, 2 would enter and 0 would leave" in previewed.output

        refused = runner.invoke(cli, [*args, "--fetchxml", TODAY])
        assert refused.exit_code == 1 and "422" in refused.output and "'today'" in refused.output
        both = runner.invoke(cli, [*args, str(candidate), "--fetchxml", ACTIVE])
        assert both.exit_code == 2
