"""People act as themselves: password-grant tokens for seeded users make the Web API act as that user under that
user's security; the whole security setup survives a restart (real HTTP)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.exchange.server import serve_exchange
from infra.sandbox.exchange.settings import ExchangeSandboxSettings
from infra.sandbox.seed import SandboxClientSettings, seed
from tests.integration.sandbox.crm_admin import ACCESS_DENIED, PRIVILEGE_DENIED, SALES, Admin, acting, error_code

pytestmark = pytest.mark.integration


def person_token(urls: CrmSandboxUrls, username: str, password: str = "sandbox-password") -> httpx.Response:
    form = {"grant_type": "password", "client_id": "fieldsync", "username": username, "password": password}
    return httpx.post(urls.token_url, data=form)


def as_person(urls: CrmSandboxUrls, username: str) -> httpx.Client:
    token = person_token(urls, username)
    assert token.status_code == 200, token.text
    return httpx.Client(base_url=urls.api_url, headers={"Authorization": f"Bearer {token.json()['access_token']}"})


def quiet(message: str) -> None:
    """Seed progress is not what these tests check."""


async def test_seeded_people_sign_in_and_act_under_their_own_security(tmp_path: Path) -> None:
    with (
        serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as crm,
        serve_exchange(ExchangeSandboxSettings(data_dir=tmp_path), port=0) as ews,
    ):
        settings = SandboxClientSettings(crm_base_url=crm.api_url, crm_token_url=crm.token_url, ews_url=ews.ews_url)
        report = await seed(settings, ["alice", "bob", "carol"], progress=quiet)
        with as_person(crm, "alice@sandbox.local") as alice, as_person(crm, "ADMIN@sandbox.local") as admin:
            me = alice.get("WhoAmI").json()
            assert me["UserId"] == report.users["alice"]
            mine = alice.get("contacts", params={"$select": "_ownerid_value"}).json()["value"]
            assert len(mine) == 2 and {c["_ownerid_value"] for c in mine} == {report.users["alice"]}
            assert len(admin.get("contacts").json()["value"]) == 6  # the System Administrator sees everyone's
            bobs = admin.get("contacts", params={"$filter": f"_ownerid_value eq {report.users['bob']}"}).json()
            bob_contact = bobs["value"][0]["contactid"]
            assert error_code(alice.get(f"contacts({bob_contact})")) == (403, ACCESS_DENIED)
            written = alice.post("contacts", json={"lastname": "Typed in the web app"},
                                 headers={"Prefer": "return=representation"}).json()  # fmt: skip
            assert written["_createdby_value"] == written["_ownerid_value"] == report.users["alice"]
            assert written["_createdonbehalfby_value"] is None  # acting as herself, not impersonated
            # A person impersonates only as a System Administrator.
            impersonating = alice.get("WhoAmI", headers=acting(report.users["bob"]))
            assert error_code(impersonating) == (403, PRIVILEGE_DENIED)
            as_bob = admin.post("contacts", json={"lastname": "For bob"}, headers={**acting(report.users["bob"]),
                                                                                   "Prefer": "return=representation"})
            assert as_bob.json()["_createdonbehalfby_value"] == report.users["admin"]


def test_password_grants_are_refused_for_wrong_passwords_unknown_users_and_outside_the_sandbox(tmp_path: Path) -> None:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as crm:
        admin = Admin(crm)
        user = admin.user("dave", admin.root)
        login = admin.login(user)
        assert person_token(crm, login).status_code == 200
        for username, password in ((login, "wrong"), ("nobody@sandbox.local", "sandbox-password")):
            refused = person_token(crm, username, password)
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        admin.http.patch(f"systemusers({user})", json={"isdisabled": True})
        assert person_token(crm, login).status_code == 400
        missing = httpx.post(crm.token_url, data={"grant_type": "password", "client_id": "fieldsync"})
        assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
        admin.close()
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path, sandbox=False), port=0) as crm:
        refused = person_token(crm, "fieldsync@sandbox.local")
        assert refused.status_code == 400 and "outside the sandbox" in refused.json()["error_description"]


def test_a_person_without_a_role_can_do_nothing(tmp_path: Path) -> None:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as crm:
        admin = Admin(crm)
        login = admin.login(admin.user("erin", admin.root))
        with as_person(crm, login) as erin:
            assert erin.get("WhoAmI").status_code == 200
            assert error_code(erin.get("contacts")) == (403, PRIVILEGE_DENIED)
            assert error_code(erin.post("contacts", json={"lastname": "x"})) == (403, PRIVILEGE_DENIED)
        admin.close()


def test_security_survives_a_restart(tmp_path: Path) -> None:
    settings = CrmSandboxSettings(data_dir=tmp_path)
    with serve_crm(settings, port=0) as crm:
        admin = Admin(crm)
        east = admin.unit("East")
        user = admin.user("fred", east, admin.role(SALES))
        other = admin.user("gina", east, admin.role(SALES))
        record = admin.contact(other, jobtitle="Kept")
        admin.share(record, user, "ReadAccess")
        definition = {"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "LogicalName": "jobtitle",
                      "IsSecured": True}  # fmt: skip
        assert admin.http.put("EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='jobtitle')",
                              json=definition).status_code == 204  # fmt: skip
        login = admin.login(user)
        token = person_token(crm, login).json()["access_token"]
        admin.close()
    with serve_crm(settings, port=0) as crm:
        headers = {"Authorization": f"Bearer {token}"}
        seen = httpx.get(f"{crm.api_url}contacts({record})", headers=headers)
        assert seen.status_code == 200 and seen.json()["jobtitle"] is None  # shared, and the field still secured
        assert httpx.get(f"{crm.api_url}WhoAmI", headers=headers).json()["BusinessUnitId"] == east
        admin = Admin(crm)
        assert len(admin.http.get(f"systemusers({user})/systemuserroles_association").json()["value"]) == 1
        assert admin.http.get(f"contacts({record})").json()["jobtitle"] == "Kept"
        admins = admin.http.get("roles", params={"$filter": "name eq 'System Administrator'"}).json()["value"]
        assert len(admins) == 1  # made once, at the first start
        admin.close()
