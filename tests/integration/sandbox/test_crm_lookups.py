"""The sandbox's accounts, the new activity sets' change tracking, and lookups bound to the table they name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings

pytestmark = pytest.mark.integration

ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}
LOGICAL = "@Microsoft.Dynamics.CRM.lookuplogicalname"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
NAVIGATION = "@Microsoft.Dynamics.CRM.associatednavigationproperty"
# The new activity sets and accounts, each with a writable attribute of its own as Dynamics names it.
TRACKED = {
    "phonecalls": {"subject": "Call back", "phonenumber": "+44 20 7946 0000", "directioncode": True},
    "letters": {"subject": "Renewal", "address": "1 High Street, Leeds"},
    "faxes": {"subject": "Signed form", "faxnumber": "+44 20 7946 0001", "numberofpages": 3},
    "serviceappointments": {"subject": "Boiler service", "location": "Basement",
                            "scheduledstart": "2030-01-02T09:00:00Z", "scheduledend": "2030-01-02T10:00:00Z"},
    "accounts": {"name": "Fabrikam", "telephone1": "+44 20 7946 0002"},
}  # fmt: skip
KEYS = {"accounts": "accountid"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = CrmSandboxSettings(data_dir=tmp_path_factory.mktemp("crm"))
    with serve_crm(settings, port=0) as urls:
        yield _client(urls)


def _client(urls: CrmSandboxUrls) -> httpx.Client:
    form = {"grant_type": "client_credentials", "client_id": "fieldsync", "client_secret": "sandbox-secret"}
    access = httpx.post(urls.token_url, data=form).json()["access_token"]
    return httpx.Client(base_url=urls.api_url, headers={"Authorization": f"Bearer {access}"})


def create(api: httpx.Client, entity_set: str, body: dict[str, Any]) -> str:
    response = api.post(entity_set, json=body)
    assert response.status_code == 204, response.text
    return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def follow(api: httpx.Client, url: str) -> tuple[list[dict[str, Any]], str]:
    entries: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        body = api.get(next_url, headers={"Prefer": "odata.track-changes"}).json()
        entries.extend(body["value"])
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        next_url = body["@odata.nextLink"]
    raise AssertionError("no delta link")


@pytest.mark.parametrize("entity_set", sorted(TRACKED))
def test_new_entity_sets_crud_and_change_tracking(api: httpx.Client, entity_set: str) -> None:
    key = KEYS.get(entity_set, "activityid")
    body = TRACKED[entity_set]
    first = create(api, entity_set, body)
    row = api.get(f"{entity_set}({first})").json()
    assert {k: row[k] for k in body} == body
    entries, delta = follow(api, entity_set)
    assert first in {e[key] for e in entries}

    changed_attribute = "name" if entity_set == "accounts" else "subject"
    assert api.patch(f"{entity_set}({first})", json={changed_attribute: "changed"}).status_code == 204
    second = create(api, entity_set, body)
    assert api.delete(f"{entity_set}({second})").status_code == 204
    entries, _ = follow(api, delta)
    live = [(e[key], e[changed_attribute]) for e in entries if "reason" not in e]
    assert live == [(first, "changed")]  # the created-then-deleted record is reported deleted only
    assert [e["id"] for e in entries if e.get("reason") == "deleted"] == [second]


def test_parent_customer_binds_an_account_or_a_contact_and_reads_back_its_name(api: httpx.Client) -> None:
    account = create(api, "accounts", {"name": "Contoso Pharmaceuticals"})
    person = create(api, "contacts", {"firstname": "Ana", "lastname": "Silva"})
    of_account = create(api, "contacts",
                        {"lastname": "Ng", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    of_person = create(api, "contacts",
                       {"lastname": "Ito", "parentcustomerid_contact@odata.bind": f"/contacts({person})"})

    row = api.get(f"contacts({of_account})", params={"$select": "_parentcustomerid_value"}, headers=ANNOTATIONS).json()
    assert row["_parentcustomerid_value"] == account
    assert row["_parentcustomerid_value" + LOGICAL] == "account"
    assert row["_parentcustomerid_value" + NAVIGATION] == "parentcustomerid_account"
    assert row["_parentcustomerid_value" + FORMATTED] == "Contoso Pharmaceuticals"
    other = api.get(f"contacts({of_person})", headers=ANNOTATIONS).json()
    assert other["_parentcustomerid_value" + LOGICAL] == "contact"
    assert other["_parentcustomerid_value" + FORMATTED] == "Ana Silva"

    # The name is the record's as it is now; without the preference no annotation is sent.
    api.patch(f"accounts({account})", json={"name": "Contoso Pharma"})
    renamed = api.get(f"contacts({of_account})", headers=ANNOTATIONS).json()
    assert renamed["_parentcustomerid_value" + FORMATTED] == "Contoso Pharma"
    plain = api.get(f"contacts({of_account})").json()
    assert plain["_parentcustomerid_value"] == account
    assert not [k for k in plain if "@" in k and not k.startswith("@odata")]
    # Also in change tracking pages.
    entries, _ = follow(api, "contacts?$select=lastname,_parentcustomerid_value")
    assert all("@" not in k or k.startswith("@odata") for e in entries for k in e)


def test_regarding_binds_the_table_it_names_on_every_activity(api: httpx.Client) -> None:
    account = create(api, "accounts", {"name": "Northwind"})
    for entity_set in ("phonecalls", "letters", "faxes", "serviceappointments", "tasks", "appointments"):
        activity = create(api, entity_set, {"subject": "About Northwind",
                                            "regardingobjectid_account@odata.bind": f"/accounts({account})"})
        row = api.get(f"{entity_set}({activity})", headers=ANNOTATIONS).json()
        assert row["_regardingobjectid_value"] == account, entity_set
        assert row["_regardingobjectid_value" + LOGICAL] == "account"
        assert row["_regardingobjectid_value" + FORMATTED] == "Northwind"


@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("parentcustomerid_account", "contacts", "is not a record of 'account'"),
        ("parentcustomerid_account", "accounts", "Does Not Exist"),
        ("parentcustomerid_systemuser", "systemusers", "No such navigation property"),
    ],
)
def test_a_lookup_bound_to_the_wrong_table_or_a_missing_record_is_a_400(
    api: httpx.Client, name: str, target: str, message: str
) -> None:
    import uuid

    existing = create(api, "contacts", {"lastname": "Target"}) if target == "contacts" else str(uuid.uuid4())
    if target == "systemusers":
        existing = api.get("WhoAmI").json()["UserId"]
    before = len(api.get("contacts").json()["value"])
    response = api.post("contacts", json={"lastname": "Refused", f"{name}@odata.bind": f"/{target}({existing})"})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    assert len(api.get("contacts").json()["value"]) == before  # nothing was created
