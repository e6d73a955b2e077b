"""Sync filters in the sandbox as Dynamics stores them: userqueries (CRUD, $filter, ownership, change tracking,
record security) and savedqueries with the default OutlookTemplate filters every organisation starts with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.sandbox.crm.filter_sets import OUTLOOK_FILTERS, OUTLOOK_TEMPLATE
from infra.sandbox.crm.server import serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from tests.integration.sandbox.crm_admin import PRIVILEGE_DENIED, Admin, acting, entity_id, error_code

pytestmark = pytest.mark.integration

FILTER_PRIVILEGES = {f"prv{verb}UserQuery": "Basic" for verb in ("Create", "Read", "Write", "Delete")}


def fetch(entity: str, conditions: str = "") -> str:
    return f'<fetch><entity name="{entity}"><filter type="and">{conditions}</filter></entity></fetch>'


BUYERS = fetch("contact", '<condition attribute="jobtitle" operator="eq" value="Buyer"/>')


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm")), port=0) as urls:
        admin = Admin(urls)
        yield admin
        admin.close()


def user_filter(admin: Admin, owner: str, name: str, entity: str = "contact", fetchxml: str = BUYERS,
                **extra: Any) -> str:
    body = {"name": name, "querytype": OUTLOOK_FILTERS, "returnedtypecode": entity, "fetchxml": fetchxml,
            "ownerid@odata.bind": f"/systemusers({owner})", **extra}  # fmt: skip
    return entity_id(admin.http.post("userqueries", json=body))


def names(admin: Admin, entity_set: str, where: str, **headers: str) -> set[str]:
    response = admin.http.get(entity_set, params={"$filter": where, "$select": "name"}, headers=headers)
    assert response.status_code == 200, response.text
    return {row["name"] for row in response.json()["value"]}


def test_the_default_templates_are_outlook_templates_for_every_synced_table(admin: Admin) -> None:
    defaults = f"querytype eq {OUTLOOK_TEMPLATE} and isdefault eq true"
    response = admin.http.get("savedqueries", params={"$filter": defaults})
    rows = {row["returnedtypecode"]: row for row in response.json()["value"]}
    assert set(rows) == {"contact", "appointment", "recurringappointmentmaster", "task", "phonecall", "letter", "fax",
                         "serviceappointment"}  # fmt: skip
    contact = rows["contact"]
    assert contact["name"] == "My Active Contacts" and contact["statecode"] == 0
    assert '<condition attribute="ownerid" operator="eq-userid" />' in contact["fetchxml"]
    assert '<condition attribute="statecode" operator="eq" value="0" />' in contact["fetchxml"]
    assert rows["task"]["name"] == "My Tasks" and "statecode" not in rows["task"]["fetchxml"]
    assert contact["_ownerid_value"] is None  # a savedquery belongs to the organisation


def test_a_user_filter_is_created_owned_read_filtered_updated_and_deleted(admin: Admin) -> None:
    alice, bob = admin.user("alice", admin.root), admin.user("bob", admin.root)
    buyers = user_filter(admin, alice, "Buyers")
    tasks = user_filter(admin, alice, "Open tasks", "task", fetch("task", '<condition attribute="statecode" '
                                                                        'operator="eq" value="0"/>'))
    user_filter(admin, bob, "Bob's buyers", description="bob's own")

    row = admin.http.get(f"userqueries({buyers})").json()
    assert (row["_ownerid_value"], row["statecode"], row["querytype"], row["fetchxml"]) == (alice, 0, 256, BUYERS)
    assert names(admin, "userqueries", f"_ownerid_value eq {alice}") == {"Buyers", "Open tasks"}
    assert names(admin, "userqueries", f"_ownerid_value eq {alice} and returnedtypecode eq 'task'") == {"Open tasks"}
    assert names(admin, "userqueries", f"_ownerid_value eq {bob} and querytype eq 256") == {"Bob's buyers"}

    assert admin.http.patch(f"userqueries({buyers})", json={"statecode": 1, "statuscode": 2}).status_code == 204
    assert names(admin, "userqueries", f"_ownerid_value eq {alice} and statecode eq 0") == {"Open tasks"}
    assert admin.http.delete(f"userqueries({tasks})").status_code == 204
    assert admin.http.get(f"userqueries({tasks})").status_code == 404
    assert names(admin, "userqueries", f"_ownerid_value eq {alice}") == {"Buyers"}


@pytest.mark.parametrize(("change", "message"), [
    ({"returnedtypecode": "widget"}, "Invalid returnedtypecode"),
    ({"fetchxml": "<fetch><entity name='contact'>"}, "not well-formed"),
    ({"fetchxml": fetch("task")}, "returnedtypecode's table"),
    ({"querytype": "256"}, "Invalid querytype"),
    ({"fetchxml": None}, "needs its fetchxml"),
])
def test_a_filter_whose_fetchxml_does_not_query_its_table_is_a_400(admin: Admin, change: dict[str, Any],
                                                                   message: str) -> None:
    owner = admin.user("carol", admin.root)
    body = {"name": "Bad", "querytype": OUTLOOK_FILTERS, "returnedtypecode": "contact", "fetchxml": BUYERS,
            "ownerid@odata.bind": f"/systemusers({owner})", **change}  # fmt: skip
    response = admin.http.post("userqueries", json=body)
    assert response.status_code == 400 and message in response.json()["error"]["message"], response.text
    assert names(admin, "userqueries", f"_ownerid_value eq {owner}") == set()  # nothing was created
    good = user_filter(admin, owner, "Good")
    assert admin.http.patch(f"userqueries({good})", json=change).status_code == 400
    assert admin.http.get(f"userqueries({good})").json()["fetchxml"] == BUYERS  # nothing was changed


def test_filter_changes_are_change_tracked(admin: Admin) -> None:
    owner = admin.user("dan", admin.root)
    first = user_filter(admin, owner, "First")
    body = admin.http.get("userqueries", headers={"Prefer": "odata.track-changes"}).json()
    while "@odata.nextLink" in body:
        body = admin.http.get(body["@odata.nextLink"], headers={"Prefer": "odata.track-changes"}).json()
    delta = body["@odata.deltaLink"]
    admin.http.patch(f"userqueries({first})", json={"statecode": 1})
    second = user_filter(admin, owner, "Second")
    admin.http.delete(f"userqueries({second})")
    entries = admin.http.get(delta, headers={"Prefer": "odata.track-changes"}).json()["value"]
    assert [(e["userqueryid"], e["statecode"]) for e in entries if "reason" not in e] == [(first, 1)]
    assert [e["id"] for e in entries if e.get("reason") == "deleted"] == [second]


def test_people_see_and_change_only_their_own_filters(admin: Admin) -> None:
    role = admin.role({**FILTER_PRIVILEGES, "prvReadQuery": "Global"}, name="Filters")
    erin, fay, idle = admin.user("erin", admin.root, role), admin.user("fay", admin.root, role), admin.user(
        "idle", admin.root)
    mine = user_filter(admin, erin, "Erin's")
    theirs = user_filter(admin, fay, "Fay's")
    assert names(admin, "userqueries", "querytype eq 256", **acting(erin)) == {"Erin's"}
    assert admin.http.get(f"userqueries({theirs})", headers=acting(erin)).status_code == 403
    assert admin.http.patch(f"userqueries({mine})", json={"name": "Erin's buyers"}, headers=acting(erin)).status_code \
        == 204
    assert admin.http.patch(f"userqueries({theirs})", json={"name": "x"}, headers=acting(erin)).status_code == 403
    assert len(names(admin, "savedqueries", f"querytype eq {OUTLOOK_TEMPLATE}", **acting(erin))) == 8
    refused = admin.http.get("userqueries", headers=acting(idle))
    assert error_code(refused) == (403, PRIVILEGE_DENIED)
