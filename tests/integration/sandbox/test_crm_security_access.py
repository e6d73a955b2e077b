"""Impersonated calls under Dynamics' record security: depths over a business-unit tree, team ownership, shares to
users and teams, the 403 codes, on-behalf-of attributes, RetrievePrincipalAccess and change tracking (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from tests.integration.sandbox.crm_admin import ACCESS_DENIED, PRIVILEGE_DENIED, SALES, Admin, acting, error_code

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Org:
    """Root > sales > east, west. alice, bob: east; carol: west; mgr (Deep read/write): sales; boss (Global
    read): root; idle: east, no role. Salespersons hold Basic create/read/write/delete/append/appendto."""

    admin: Admin
    sales: str
    east: str
    west: str
    users: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.users[name]


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmSandboxUrls]:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), port=0) as urls:
        yield urls


@pytest.fixture(scope="module")
def org(crm: CrmSandboxUrls) -> Iterator[Org]:
    admin = Admin(crm)
    sales = admin.unit("Sales")
    east, west = admin.unit("East", sales), admin.unit("West", sales)
    seller = admin.role(SALES, name="Salesperson")
    manager = admin.role({"prvReadContact": "Deep", "prvWriteContact": "Deep"}, name="Manager")
    reader = admin.role({"prvReadContact": "Global"}, name="Reader")
    users = {
        "alice": admin.user("alice", east, seller), "bob": admin.user("bob", east, seller),
        "carol": admin.user("carol", west, seller), "mgr": admin.user("mgr", sales, manager),
        "boss": admin.user("boss", admin.root, reader), "idle": admin.user("idle", east),
    }  # fmt: skip
    yield Org(admin, sales, east, west, users)
    admin.close()


def reads(org: Org, who: str, record: str) -> int:
    return org.admin.http.get(f"contacts({record})", headers=acting(org[who])).status_code


def listed(org: Org, who: str, *records: str) -> set[str]:
    """Which of `records` the user's collection query returns."""
    wanted = " or ".join(f"contactid eq {r}" for r in records)
    params = {"$filter": wanted, "$select": "lastname"}
    response = org.admin.http.get("contacts", params=params, headers=acting(org[who]))
    assert response.status_code == 200, response.text
    return {row["contactid"] for row in response.json()["value"]}


@pytest.mark.parametrize(
    ("who", "owner", "visible"),
    [
        ("alice", "alice", True),  # Basic: her own
        ("alice", "bob", False),  # ... not a colleague's
        ("mgr", "alice", True),  # Deep from sales: east
        ("mgr", "carol", True),  # ... and west
        ("mgr", "boss", False),  # ... not the parent unit
        ("boss", "carol", True),  # Global
    ],
)
def test_reads_follow_the_depth_over_the_business_unit_tree(org: Org, who: str, owner: str, visible: bool) -> None:
    record = org.admin.contact(org[owner])
    assert reads(org, who, record) == (200 if visible else 403)
    assert listed(org, who, record) == ({record} if visible else set())


def test_a_single_read_is_refused_with_the_code_of_the_failed_check(org: Org) -> None:
    record = org.admin.contact(org["bob"])
    # The privilege is held but does not reach the record: the access check's code.
    assert error_code(org.admin.http.get(f"contacts({record})", headers=acting(org["alice"]))) == (403, ACCESS_DENIED)
    # No privilege at all: PrivilegeDenied, for a single record and for a query alike.
    assert error_code(org.admin.http.get(f"contacts({record})", headers=acting(org["idle"]))) == (403, PRIVILEGE_DENIED)
    assert error_code(org.admin.http.get("contacts", headers=acting(org["idle"]))) == (403, PRIVILEGE_DENIED)


def test_writes_need_the_privilege_at_a_depth_reaching_the_record(org: Org) -> None:
    mine, bobs = org.admin.contact(org["alice"]), org.admin.contact(org["bob"])
    http, alice = org.admin.http, acting(org["alice"])
    assert http.patch(f"contacts({mine})", json={"jobtitle": "Lead"}, headers=alice).status_code == 204
    assert error_code(http.patch(f"contacts({bobs})", json={"jobtitle": "x"}, headers=alice)) == (403, ACCESS_DENIED)
    assert error_code(http.delete(f"contacts({bobs})", headers=alice)) == (403, ACCESS_DENIED)
    refused = http.patch(f"contacts({mine})", json={"jobtitle": "x"}, headers=acting(org["boss"]))  # read only
    assert error_code(refused) == (403, PRIVILEGE_DENIED)
    created = http.post("contacts", json={"lastname": "No role"}, headers=acting(org["idle"]))
    assert error_code(created) == (403, PRIVILEGE_DENIED)
    for_bob = http.post("contacts", json={"lastname": "For bob", "ownerid@odata.bind": f"/systemusers({org['bob']})"},
                        headers=alice)  # fmt: skip
    assert error_code(for_bob) == (403, ACCESS_DENIED)  # Basic create reaches her own records only
    # Assigning is a privilege of its own: Salespersons do not hold it.
    assign = http.patch(f"contacts({mine})", json={"ownerid@odata.bind": f"/systemusers({org['bob']})"}, headers=alice)
    assert error_code(assign) == (403, PRIVILEGE_DENIED)
    assert http.patch(f"contacts({bobs})", json={"jobtitle": "Deep"}, headers=acting(org["mgr"])).status_code == 204
    assert http.delete(f"contacts({mine})", headers=alice).status_code == 204
    for message in (refused, for_bob):
        assert message.json()["error"]["message"]


def test_impersonated_writes_record_the_real_caller_on_behalf_of(org: Org) -> None:
    http = org.admin.http
    created = http.post("contacts", json={"lastname": "Behalf"}, headers={**acting(org["alice"]),
                                                                          "Prefer": "return=representation"})
    row = created.json()
    assert row["_createdby_value"] == row["_modifiedby_value"] == row["_ownerid_value"] == org["alice"]
    assert row["_createdonbehalfby_value"] == row["_modifiedonbehalfby_value"] == org.admin.me
    http.patch(f"contacts({row['contactid']})", json={"jobtitle": "Direct"})
    after = http.get(f"contacts({row['contactid']})", params={"$select": "_modifiedby_value,_modifiedonbehalfby_value,"
                                                                        "_createdonbehalfby_value"}).json()
    assert (after["_modifiedby_value"], after["_modifiedonbehalfby_value"]) == (org.admin.me, None)
    assert after["_createdonbehalfby_value"] == org.admin.me


def test_records_owned_by_a_team_are_its_members(org: Org) -> None:
    role = org.admin.role(SALES, name="Team seller")
    member, outsider = org.admin.user("member", org.west), org.admin.user("outsider", org.west, role)
    team = org.admin.team(org.west, members=(member,), roles=(role,))
    record = org.admin.contact(f"teams({team})")
    assert org.admin.http.get(f"contacts({record})").json()["_ownerid_value"] == team
    users = {**org.users, "member": member, "outsider": outsider}
    view = Org(org.admin, org.sales, org.east, org.west, users)
    assert reads(view, "member", record) == 200 and reads(view, "outsider", record) == 403
    assert reads(view, "carol", record) == 403  # same unit, but Basic reaches her own and her teams' records only
    changed = org.admin.http.patch(f"contacts({record})", json={"jobtitle": "Team"}, headers=acting(member))
    assert changed.status_code == 204


def test_shares_to_users_and_teams_add_rights_until_revoked(org: Org, crm: CrmSandboxUrls) -> None:
    http, record = org.admin.http, org.admin.contact(org["carol"])

    def alice_writes() -> int:
        return http.patch(f"contacts({record})", json={"jobtitle": "Shared"}, headers=acting(org["alice"])).status_code

    org.admin.share(record, org["alice"], "ReadAccess")
    assert reads(org, "alice", record) == 200 and listed(org, "alice", record) == {record}
    assert alice_writes() == 403
    org.admin.share(record, org["alice"], "WriteAccess")  # GrantAccess adds
    assert alice_writes() == 204
    org.admin.share(record, org["alice"], "ReadAccess", action="ModifyAccess")  # ModifyAccess replaces
    assert alice_writes() == 403
    assert reads(org, "idle", record) == 403  # a share gives nothing without the privilege
    team = org.admin.team(org.east, members=(org["bob"],))
    org.admin.share(record, team, "ReadAccess, WriteAccess", kind="team")
    assert reads(org, "bob", record) == 200

    shared = http.get("RetrieveSharedPrincipalsAndAccess(Target=@p1)",
                      params={"@p1": f"{{'@odata.id':'contacts({record})'}}"}).json()  # fmt: skip
    assert shared["@odata.context"].endswith("Microsoft.Dynamics.CRM.RetrieveSharedPrincipalsAndAccessResponse")
    assert sorted((a["Principal"]["ownerid"], a["Principal"]["@odata.type"], a["AccessMask"])
                  for a in shared["PrincipalAccesses"]) == sorted([
        (org["alice"], "#Microsoft.Dynamics.CRM.systemuser", "ReadAccess"),
        (team, "#Microsoft.Dynamics.CRM.team", "ReadAccess, WriteAccess"),
    ])  # fmt: skip
    rows = http.get("principalobjectaccessset", params={"$filter": f"objectid eq {record}"}).json()["value"]
    found = [(r["principalid"], r["principaltypecode"], r["objecttypecode"], r["accessrightsmask"]) for r in rows]
    assert sorted(found) == sorted([(org["alice"], "systemuser", "contact", 1), (team, "team", "contact", 3)])

    revoke = {"Target": {"contactid": record, "@odata.type": "Microsoft.Dynamics.CRM.contact"},
              "Revokee": {"teamid": team, "@odata.type": "Microsoft.Dynamics.CRM.team"}}  # fmt: skip
    assert http.post("RevokeAccess", json=revoke).status_code == 204
    assert reads(org, "bob", record) == 403
    # Sharing needs the Share right on the record: alice may read it, not share it.
    body = {"Target": revoke["Target"], "PrincipalAccess": {"AccessMask": "ReadAccess", "Principal": {
        "systemuserid": org["bob"], "@odata.type": "Microsoft.Dynamics.CRM.systemuser"}}}  # fmt: skip
    assert error_code(http.post("GrantAccess", json=body, headers=acting(org["alice"])))[0] == 403
    assert http.post("GrantAccess", json={**body, "PrincipalAccess": {"AccessMask": "Bogus"}}).status_code == 400
    assert http.delete(f"contacts({record})").status_code == 204
    assert http.get("principalobjectaccessset", params={"$filter": f"objectid eq {record}"}).json()["value"] == []


def principal_access(org: Org, principal: str, record: str, entity_set: str = "systemusers") -> Any:
    response = org.admin.http.get(
        f"{entity_set}({principal})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@p1)",
        params={"@p1": f"{{'@odata.id':'{org.admin.urls.api_url}contacts({record})'}}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_retrieve_principal_access_answers_from_the_same_rules(org: Org) -> None:
    record = org.admin.contact(org["alice"])
    mine = principal_access(org, org["alice"], record)
    assert mine["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse")
    assert mine["AccessRights"] == "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess"
    assert principal_access(org, org["bob"], record)["AccessRights"] == "None"
    assert principal_access(org, org["mgr"], record)["AccessRights"] == "ReadAccess, WriteAccess"
    org.admin.share(record, org["bob"], "ReadAccess, AppendToAccess")
    assert principal_access(org, org["bob"], record)["AccessRights"] == "ReadAccess, AppendToAccess"
    everything = principal_access(org, org.admin.me, record)["AccessRights"]
    assert everything.endswith("ShareAccess, AssignAccess")
    team = org.admin.team(org.east, roles=(org.admin.role({"prvReadContact": "Local"}),))
    assert principal_access(org, team, record, "teams")["AccessRights"] == "ReadAccess"


def test_change_tracking_under_impersonation_follows_the_read_rules(org: Org) -> None:
    http, alice = org.admin.http, acting(org["alice"])
    start = http.get("contacts", params={"$select": "lastname"}, headers={**alice, "Prefer": "odata.track-changes"})
    assert start.status_code == 200
    delta = start.json()["@odata.deltaLink"]
    mine, bobs = org.admin.contact(org["alice"]), org.admin.contact(org["bob"])
    http.delete(f"contacts({mine})")
    page = http.get(delta, headers={**alice, "Prefer": "odata.track-changes"}).json()
    live = [e["contactid"] for e in page["value"] if "contactid" in e]
    deleted = [e["id"] for e in page["value"] if "$deletedEntity" in e["@odata.context"]]
    assert bobs not in live and mine in deleted
    everything = http.get(delta, headers={"Prefer": "odata.track-changes"}).json()
    assert bobs in [e.get("contactid") for e in everything["value"]]
    refused = http.get("contacts", headers={**acting(org["idle"]), "Prefer": "odata.track-changes"})
    assert error_code(refused) == (403, PRIVILEGE_DENIED)


def test_an_unknown_caller_id_is_refused(org: Org) -> None:
    response = org.admin.http.get("contacts", headers={"MSCRMCallerID": "00000000-0000-0000-0000-000000000001"})
    assert response.status_code == 400
