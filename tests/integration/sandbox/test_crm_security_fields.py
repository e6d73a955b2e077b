"""Field-level security over the sandbox Web API: securing a column through its definition, field security
profiles and permissions for users and teams, masked reads and the two secured-field 403 codes (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from tests.integration.sandbox.crm_admin import SALES, SECURED_CREATE, SECURED_UPDATE, Admin, acting, error_code

pytestmark = pytest.mark.integration
JOBTITLE = "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='jobtitle')"
DEFINITION = {"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "LogicalName": "jobtitle"}


@dataclass(frozen=True)
class Org:
    admin: Admin
    seller: str  # the Salesperson role
    profile: str  # a field security profile: read jobtitle, no update, no create


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmSandboxUrls]:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), port=0) as urls:
        yield urls


@pytest.fixture(scope="module")
def org(crm: CrmSandboxUrls) -> Iterator[Org]:
    admin = Admin(crm)
    assert admin.http.put(JOBTITLE, json={**DEFINITION, "IsSecured": True}).status_code == 204
    profile = admin.create("fieldsecurityprofiles", {"name": "Readers of job titles"})
    admin.create("fieldpermissions", {
        "fieldsecurityprofileid@odata.bind": f"/fieldsecurityprofiles({profile})", "entityname": "contact",
        "attributelogicalname": "jobtitle", "canread": 4, "canupdate": 0, "cancreate": 0,
    })  # fmt: skip
    yield Org(admin, admin.role(SALES, name="Salesperson"), profile)
    admin.close()


def test_a_column_is_secured_through_its_definition(org: Org) -> None:
    http = org.admin.http
    definition = http.get(JOBTITLE, params={"$select": "LogicalName,IsSecured"}).json()
    assert definition["LogicalName"] == "jobtitle" and definition["IsSecured"] is True
    assert definition["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata" and definition["MetadataId"]
    context = "$metadata#EntityDefinitions('contact')/Attributes(LogicalName,IsSecured)/$entity"
    assert definition["@odata.context"].endswith(context)
    secured = http.get("EntityDefinitions(LogicalName='contact')/Attributes",
                       params={"$select": "LogicalName", "$filter": "IsSecured eq true"}).json()["value"]  # fmt: skip
    assert [a["LogicalName"] for a in secured] == ["jobtitle"]
    assert http.put("EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='contactid')",
                    json={**DEFINITION, "LogicalName": "contactid", "IsSecured": True}).status_code == 400  # fmt: skip
    assert http.put(JOBTITLE, json={**DEFINITION, "LogicalName": "nickname", "IsSecured": True}).status_code == 400
    assert http.get("EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='bogus')").status_code == 404
    unsecured = http.post("fieldpermissions", json={
        "fieldsecurityprofileid@odata.bind": f"/fieldsecurityprofiles({org.profile})", "entityname": "contact",
        "attributelogicalname": "nickname", "canread": 4,
    })  # fmt: skip
    assert error_code(unsecured) == (400, "0x80040203")
    seller = org.admin.user("seller", org.admin.root, org.seller)
    refused = http.put(JOBTITLE, json={**DEFINITION, "IsSecured": False}, headers=acting(seller))
    assert error_code(refused) == (403, "0x80040220")


def test_a_secured_field_comes_back_null_to_whoever_may_not_read_it(org: Org) -> None:
    http = org.admin.http
    reader = org.admin.user("reader", org.admin.root, org.seller)
    blind = org.admin.user("blind", org.admin.root, org.seller)
    org.admin.associate("fieldsecurityprofiles", org.profile, "systemuserprofiles_association", "systemusers", reader)
    for user in (reader, blind):
        contact = org.admin.contact(user, jobtitle="Secret title", nickname="Open")
        seen = http.get(f"contacts({contact})", params={"$select": "jobtitle,nickname"}, headers=acting(user)).json()
        assert seen["nickname"] == "Open"
        assert seen["jobtitle"] == ("Secret title" if user == reader else None)
        listed = http.get("contacts", params={"$select": "jobtitle", "$filter": f"contactid eq {contact}"},
                          headers=acting(user)).json()["value"]  # fmt: skip
        assert listed[0]["jobtitle"] == seen["jobtitle"]
        assert http.get(f"contacts({contact})").json()["jobtitle"] == "Secret title"  # System Administrator
    filtered = http.get("contacts", params={"$filter": "jobtitle eq 'Secret title'"}, headers=acting(blind)).json()
    assert filtered["value"] == []  # the filter sees the field as the user does
    tracked = http.get("contacts", params={"$select": "jobtitle"},
                       headers={**acting(blind), "Prefer": "odata.track-changes"}).json()["value"]  # fmt: skip
    assert tracked and all(row["jobtitle"] is None for row in tracked)


def test_updating_or_creating_a_secured_field_needs_the_permission(org: Org) -> None:
    http = org.admin.http
    reader = org.admin.user("reader", org.admin.root, org.seller)
    org.admin.associate("systemusers", reader, "systemuserprofiles_association", "fieldsecurityprofiles", org.profile)
    contact = org.admin.contact(reader, jobtitle="Before")
    patch = http.patch(f"contacts({contact})", json={"jobtitle": "After"}, headers=acting(reader))
    assert error_code(patch) == (403, SECURED_UPDATE)
    assert "jobtitle" in patch.json()["error"]["message"]
    post = http.post("contacts", json={"lastname": "New", "jobtitle": "Set"}, headers=acting(reader))
    assert error_code(post) == (403, SECURED_CREATE)
    assert http.post("contacts", json={"lastname": "New", "jobtitle": None}, headers=acting(reader)).status_code == 204
    assert http.patch(f"contacts({contact})", json={"nickname": "Fine"}, headers=acting(reader)).status_code == 204
    assert http.get(f"contacts({contact})").json()["jobtitle"] == "Before"

    editors = org.admin.create("fieldsecurityprofiles", {"name": "Editors"})
    org.admin.create("fieldpermissions", {
        "fieldsecurityprofileid@odata.bind": f"/fieldsecurityprofiles({editors})", "entityname": "contact",
        "attributelogicalname": "jobtitle", "canread": 4, "canupdate": 4, "cancreate": 4,
    })  # fmt: skip
    team = org.admin.team(org.admin.root, members=(reader,))
    org.admin.associate("fieldsecurityprofiles", editors, "teamprofiles_association", "teams", team)
    assert http.patch(f"contacts({contact})", json={"jobtitle": "After"}, headers=acting(reader)).status_code == 204
    assert http.post("contacts", json={"lastname": "New", "jobtitle": "Set"}, headers=acting(reader)).status_code == 204
    listed = http.get(f"fieldsecurityprofiles({editors})/teamprofiles_association").json()["value"]
    assert [t["teamid"] for t in listed] == [team]
    assert http.delete(f"fieldsecurityprofiles({editors})/teamprofiles_association({team})/$ref").status_code == 204
    assert error_code(http.patch(f"contacts({contact})", json={"jobtitle": "x"}, headers=acting(reader)))[0] == 403
    assert http.delete(f"fieldsecurityprofiles({editors})").status_code == 204
    assert http.get("fieldpermissions", params={"$filter": f"_fieldsecurityprofileid_value eq {editors}"}).json()[
        "value"
    ] == []


def test_profiles_are_listed_and_unassigned(org: Org) -> None:
    http = org.admin.http
    user = org.admin.user("listed", org.admin.root)
    org.admin.associate("fieldsecurityprofiles", org.profile, "systemuserprofiles_association", "systemusers", user)
    users = http.get(f"fieldsecurityprofiles({org.profile})/systemuserprofiles_association").json()["value"]
    assert user in [u["systemuserid"] for u in users]
    assert http.delete(f"fieldsecurityprofiles({org.profile})/systemuserprofiles_association/$ref",
                       params={"$id": f"systemusers({user})"}).status_code == 204  # fmt: skip
    profiles = http.get(f"systemusers({user})/systemuserprofiles_association").json()["value"]
    assert profiles == []
    permissions = http.get("fieldpermissions", params={"$select": "attributelogicalname,canread,canupdate,cancreate",
                                                       "$filter": f"_fieldsecurityprofileid_value eq {org.profile}"})
    assert [(p["attributelogicalname"], p["canread"], p["canupdate"], p["cancreate"])
            for p in permissions.json()["value"]] == [("jobtitle", 4, 0, 0)]  # fmt: skip
