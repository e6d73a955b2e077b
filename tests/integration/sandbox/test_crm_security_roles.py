"""Security setup over the sandbox Web API: business units, privileges, roles, their privileges, assignments and
teams, in the Web API's shapes (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from tests.integration.sandbox.crm_admin import SALES, Admin, acting, error_code, unique

pytestmark = pytest.mark.integration
NO_SUCH = "00000000-0000-0000-0000-000000000001"


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmSandboxUrls]:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), port=0) as urls:
        yield urls


@pytest.fixture(scope="module")
def admin(crm: CrmSandboxUrls) -> Iterator[Admin]:
    org = Admin(crm)
    yield org
    org.close()


def test_business_units_form_a_tree_and_users_move_between_them(admin: Admin) -> None:
    sales = admin.unit("Sales")
    east = admin.unit("Sales East", sales)
    row = admin.http.get(f"businessunits({east})", params={"$select": "name,_parentbusinessunitid_value"}).json()
    assert row["_parentbusinessunitid_value"] == sales
    unparented = admin.create("businessunits", {"name": unique("Loose")})
    assert admin.http.get(f"businessunits({unparented})").json()["_parentbusinessunitid_value"] == admin.root
    below_itself = admin.http.patch(f"businessunits({sales})",
                                    json={"parentbusinessunitid@odata.bind": f"/businessunits({east})"})  # fmt: skip
    assert error_code(below_itself) == (400, "0x80040203")
    assert admin.http.delete(f"businessunits({sales})").status_code == 400  # it still has a child
    assert admin.http.delete(f"businessunits({unparented})").status_code == 204

    user = admin.user("mover", east)
    moved = admin.http.patch(f"systemusers({user})", json={"businessunitid@odata.bind": f"/businessunits({sales})"})
    assert moved.status_code == 204
    assert admin.http.get(f"systemusers({user})").json()["_businessunitid_value"] == sales
    children = admin.http.get("businessunits", params={"$filter": f"_parentbusinessunitid_value eq {sales}"}).json()
    assert [u["businessunitid"] for u in children["value"]] == [east]


def test_privileges_are_seeded_for_every_table_the_sandbox_serves(admin: Admin) -> None:
    rows = admin.http.get("privileges", params={"$filter": "name eq 'prvReadContact' or name eq 'prvReadRole'"}).json()
    by_name = {r["name"]: r for r in rows["value"]}
    assert by_name["prvReadContact"]["canbebasic"] is True and by_name["prvReadContact"]["accessright"] == 1
    assert by_name["prvReadRole"]["canbebasic"] is False and by_name["prvReadRole"]["canbeglobal"] is True
    for table in ("Contact", "Activity", "User", "BusinessUnit", "Team", "Role", "FieldSecurityProfile"):
        assert f"prvRead{table}" in admin.privileges and f"prvWrite{table}" in admin.privileges
    assert {f"prv{verb}Activity" for verb in ("Create", "Append", "AppendTo", "Assign", "Share", "Delete")} <= set(
        admin.privileges
    )


def test_roles_hold_privileges_at_depths_added_and_removed_by_the_actions(admin: Admin) -> None:
    role = admin.role({"prvReadContact": "Basic", "prvWriteContact": "Deep"})
    assert admin.http.get(f"roles({role})").json()["_businessunitid_value"] == admin.root
    held = admin.http.get("roleprivilegescollection", params={"$filter": f"roleid eq {role}"}).json()["value"]
    assert {(admin.privileges["prvReadContact"], 1), (admin.privileges["prvWriteContact"], 4)} == {
        (r["privilegeid"], r["privilegedepthmask"]) for r in held
    }
    change = {"Privileges": [{"PrivilegeId": admin.privileges["prvReadContact"], "Depth": "Global"}]}
    assert admin.http.post(f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", json=change).status_code == 204
    remove = {"PrivilegeId": admin.privileges["prvWriteContact"]}
    assert admin.http.post(f"roles({role})/Microsoft.Dynamics.CRM.RemovePrivilegeRole", json=remove).status_code == 204
    held = admin.http.get(f"roles({role})/roleprivileges_association", params={"$select": "name"}).json()["value"]
    assert [p["name"] for p in held] == ["prvReadContact"]
    depth = admin.http.get("roleprivilegescollection", params={"$filter": f"roleid eq {role}"}).json()["value"]
    assert [r["privilegedepthmask"] for r in depth] == [8]

    bad_depth = {"Privileges": [{"PrivilegeId": admin.privileges["prvReadRole"], "Depth": "Basic"}]}
    assert admin.http.post(f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", json=bad_depth).status_code == 400
    assert admin.http.delete(f"roles({role})").status_code == 204
    assert admin.http.get("roleprivilegescollection", params={"$filter": f"roleid eq {role}"}).json()["value"] == []


def test_roles_are_assigned_to_users_and_listed_unassigned_both_ways(admin: Admin, crm: CrmSandboxUrls) -> None:
    first, second = admin.role(SALES, name="First"), admin.role(SALES, name="Second")
    user = admin.user("assignee", admin.root, first, second)
    listed = admin.http.get(f"systemusers({user})/systemuserroles_association", params={"$select": "name"}).json()
    assert listed["@odata.context"].endswith("$metadata#roles(name)")
    assert sorted(r["roleid"] for r in listed["value"]) == sorted([first, second])
    again = admin.http.post(f"systemusers({user})/systemuserroles_association/$ref",
                            json={"@odata.id": f"{crm.api_url}roles({first})"})  # fmt: skip
    assert error_code(again) == (412, "0x80040237")
    assert admin.http.delete(f"systemusers({user})/systemuserroles_association({first})/$ref").status_code == 204
    by_id = admin.http.delete(f"systemusers({user})/systemuserroles_association/$ref",
                              params={"$id": f"{crm.api_url}roles({second})"})  # fmt: skip
    assert by_id.status_code == 204
    assert admin.http.get(f"systemusers({user})/systemuserroles_association").json()["value"] == []
    intersect = admin.http.get("systemuserrolescollection", params={"$filter": f"systemuserid eq {user}"})
    assert intersect.json()["value"] == []


def test_teams_have_members_and_roles_and_access_teams_hold_no_roles(admin: Admin) -> None:
    role = admin.role(SALES)
    alice, bob = admin.user("alice", admin.root), admin.user("bob", admin.root)
    team = admin.team(admin.root, members=(alice, bob), roles=(role,))
    row = admin.http.get(f"teams({team})").json()
    assert (row["teamtype"], row["_businessunitid_value"]) == (0, admin.root)
    members = admin.http.get(f"teams({team})/teammembership_association").json()["value"]
    assert sorted(m["systemuserid"] for m in members) == sorted([alice, bob])
    teams = admin.http.get(f"systemusers({alice})/teammembership_association").json()["value"]
    assert [t["teamid"] for t in teams] == [team]
    assert [r["roleid"] for r in admin.http.get(f"teams({team})/teamroles_association").json()["value"]] == [role]
    assert admin.http.delete(f"teams({team})/teammembership_association({bob})/$ref").status_code == 204
    assert len(admin.http.get(f"teams({team})/teammembership_association").json()["value"]) == 1

    access_team = admin.team(admin.root, teamtype=1)
    refused = admin.http.post(f"teams({access_team})/teamroles_association/$ref",
                              json={"@odata.id": f"roles({role})"})  # fmt: skip
    assert error_code(refused) == (400, "0x80040203")
    owned = admin.http.post("contacts", json={"lastname": "x", "ownerid@odata.bind": f"/teams({access_team})"})
    assert error_code(owned) == (400, "0x80040203")
    assert admin.http.delete(f"teams({team})").status_code == 204
    assert admin.http.get(f"systemusers({alice})/teammembership_association").json()["value"] == []


def test_retrieve_user_privileges_lists_the_roles_of_the_user_and_its_teams(admin: Admin) -> None:
    mine = admin.role({"prvReadContact": "Basic"})
    the_teams = admin.role({"prvReadContact": "Local", "prvWriteActivity": "Deep"})
    user = admin.user("privileged", admin.root, mine)
    admin.team(admin.root, members=(user,), roles=(the_teams,))
    answer = admin.http.get(f"systemusers({user})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()").json()
    assert answer["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.RetrieveUserPrivilegesResponse")
    found = {(p["PrivilegeName"], p["Depth"], p["PrivilegeId"], p["BusinessUnitId"]) for p in answer["RolePrivileges"]}
    assert found == {
        ("prvReadContact", "Local", admin.privileges["prvReadContact"], admin.root),
        ("prvWriteActivity", "Deep", admin.privileges["prvWriteActivity"], admin.root),
    }
    no_role = admin.user("idle", admin.root)
    assert admin.http.get(f"systemusers({no_role})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()").json()[
        "RolePrivileges"
    ] == []


def test_a_user_without_security_privileges_cannot_change_security(admin: Admin) -> None:
    seller = admin.user("seller", admin.root, admin.role(SALES))
    as_seller = acting(seller)
    created = admin.http.post("roles", json={"name": unique("Sneaky")}, headers=as_seller)
    assert error_code(created) == (403, "0x80040220")
    role = admin.role({"prvReadContact": "Global"})
    grant = {"Privileges": [{"PrivilegeId": admin.privileges["prvReadContact"], "Depth": "Global"}]}
    add = admin.http.post(f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", json=grant, headers=as_seller)
    assert error_code(add) == (403, "0x80040220")
    assign = admin.http.post(f"systemusers({seller})/systemuserroles_association/$ref",
                             json={"@odata.id": f"roles({role})"}, headers=as_seller)  # fmt: skip
    assert error_code(assign) == (403, "0x80040220")
    assert error_code(admin.http.get("roles", headers=as_seller)) == (403, "0x80040220")
    assert error_code(admin.http.get("principalobjectaccessset", headers=as_seller)) == (403, "0x80040220")


def test_read_only_security_tables_refuse_generic_writes(admin: Admin) -> None:
    for entity_set in ("privileges", "roleprivilegescollection", "teammemberships", "principalobjectaccessset"):
        assert admin.http.post(entity_set, json={}).status_code == 405
    response: httpx.Response = admin.http.get(f"systemusers({admin.me})/bogus_association")
    assert response.status_code == 404


def test_team_roles_are_removed_and_profiles_read_like_any_record(admin: Admin) -> None:
    role = admin.role(SALES)
    team = admin.team(admin.root, roles=(role,))
    assert admin.http.delete(f"teams({team})/teamroles_association({role})/$ref").status_code == 204
    assert admin.http.get(f"teams({team})/teamroles_association").json()["value"] == []
    profile = admin.create("fieldsecurityprofiles", {"name": unique("Profile"), "description": "read back"})
    assert admin.http.get(f"fieldsecurityprofiles({profile})").json()["description"] == "read back"
    names = [p["fieldsecurityprofileid"] for p in admin.http.get("fieldsecurityprofiles").json()["value"]]
    assert profile in names


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "GrantAccess", [1]),
        ("POST", "GrantAccess", {"Target": "contacts"}),
        ("POST", "GrantAccess", {"Target": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": "x"}}),
        ("POST", "RevokeAccess", {"Target": {"@odata.type": "Microsoft.Dynamics.CRM.bogus"}}),
        ("POST", "roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", {"Privileges": [{"PrivilegeId": 5}]}),
        ("POST", "roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", {"Privileges": "all"}),
        ("POST", "roles({role})/Microsoft.Dynamics.CRM.RemovePrivilegeRole", {"PrivilegeId": None}),
        ("POST", "systemusers({me})/systemuserroles_association/$ref", {"@odata.id": 5}),
        ("POST", "systemusers({me})/systemuserroles_association/$ref", {"@odata.id": f"teams({NO_SUCH})"}),
        ("DELETE", "systemusers({me})/systemuserroles_association/$ref", None),
        ("GET", "systemusers({me})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@p1)", None),
        ("GET", "RetrieveSharedPrincipalsAndAccess(Target=@p1)", None),
        ("PUT", "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='jobtitle')", {"IsSecured": "yes"}),
    ],
)  # fmt: skip
def test_malformed_security_requests_are_400_never_500(
    admin: Admin, method: str, path: str, body: object
) -> None:
    role = admin.role({})
    response = admin.http.request(method, path.format(role=role, me=admin.me), json=body)
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"]["message"]
