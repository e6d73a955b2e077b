"""activitymimeattachments over real HTTP: both parent binds, reads, `$filter`, `$select`, filesize, PATCH, DELETE,
change tracking with cascades, the parent's versionnumber, security through the parent, size limit, bad base64."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.sandbox.crm.settings import CrmSandboxSettings
from tests.integration.sandbox.crm_admin import ACCESS_DENIED, Admin, acting, administering, entity_id, error_code

pytestmark = pytest.mark.integration
SET = "activitymimeattachments"
LIMIT = 4096  # this module's maxuploadfilesize, small so that the refusal is cheap to provoke
BAD_PAYLOAD = "0x80048d19"


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    with administering(tmp_path_factory.mktemp("crm"), crm_sandbox_max_upload_file_size=LIMIT) as admin:
        yield admin


@pytest.fixture(scope="module")
def people(admin: Admin) -> dict[str, str]:
    return admin.salespeople("alice", "bob")


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def attach(http: httpx.Client, parent: str, content: bytes = b"hello", bind: str = "activitypointer",
           **headers: str) -> httpx.Response:  # fmt: skip
    target = "activitypointers" if bind == "activitypointer" else "appointments"
    body = {"filename": "notes.txt", "mimetype": "text/plain", "body": b64(content),
            f"objectid_{bind}@odata.bind": f"/{target}({parent})"}  # fmt: skip
    return http.post(SET, json=body, headers=headers)


def version_of(admin: Admin, parent: str) -> int:
    return int(admin.http.get(f"appointments({parent})", params={"$select": "versionnumber"}).json()["versionnumber"])


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["activitymimeattachmentid"] for r in rows}


def test_both_binds_create_and_reads_show_the_file_without_its_body_unless_selected(admin: Admin) -> None:
    parent, other = admin.activity(), admin.activity()
    content = os.urandom(300)
    first = entity_id(attach(admin.http, parent, content))
    second = entity_id(attach(admin.http, parent, bind="appointment"))
    entity_id(attach(admin.http, other))
    annotations = {"Prefer": 'odata.include-annotations="*"'}
    row = admin.http.get(f"{SET}({first})", headers=annotations).json()
    assert "body" not in row and row["filesize"] == 300 and row["filename"] == "notes.txt"
    assert row["_objectid_value"] == parent and row["objecttypecode"] == "appointment"
    assert row["_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "appointment"
    selected = admin.http.get(f"{SET}({first})", params={"$select": "body,mimetype"}).json()
    assert base64.b64decode(selected["body"]) == content and selected["mimetype"] == "text/plain"
    of_parent = f"_objectid_value eq {parent} and objecttypecode eq 'appointment'"
    found = admin.http.get(SET, params={"$filter": of_parent}).json()["value"]
    assert ids(found) == {first, second} and all("body" not in r for r in found)
    assert sorted(r["attachmentnumber"] for r in found) == [1, 2]


def test_patch_changes_the_file_and_delete_removes_it_without_touching_the_parent_version(admin: Admin) -> None:
    parent = admin.activity()
    before = version_of(admin, parent)
    created = attach(admin.http, parent, b"one", Prefer="return=representation")
    assert created.status_code == 201
    attachment = created.json()["activitymimeattachmentid"]
    patched = admin.http.patch(f"{SET}({attachment})", json={"body": b64(b"longer"), "filename": "two.txt"},
                               headers={"Prefer": "return=representation"})  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert patched.json()["filesize"] == 6 and patched.json()["versionnumber"] > created.json()["versionnumber"]
    assert admin.http.get(f"{SET}({attachment})").json()["filename"] == "two.txt"
    refused = admin.http.patch(f"{SET}({attachment})", json={"filesize": 1})
    assert error_code(refused) == (400, BAD_PAYLOAD)
    assert admin.http.delete(f"{SET}({attachment})").status_code == 204
    assert admin.http.get(f"{SET}({attachment})").status_code == 404
    assert version_of(admin, parent) == before


def test_change_tracking_reports_creates_updates_deletes_and_the_parent_cascade(admin: Admin) -> None:
    kept, doomed = admin.activity(), admin.activity()
    existing = entity_id(attach(admin.http, kept))
    tracking = {"Prefer": "odata.track-changes"}
    start = admin.http.get(SET, headers=tracking).json()
    assert existing in ids(start["value"]) and all("body" not in r for r in start["value"])
    created = entity_id(attach(admin.http, kept))
    removed = entity_id(attach(admin.http, kept))
    cascaded = entity_id(attach(admin.http, doomed))
    admin.http.patch(f"{SET}({existing})", json={"filename": "renamed.txt"}).raise_for_status()
    admin.http.delete(f"{SET}({removed})").raise_for_status()
    admin.http.delete(f"appointments({doomed})").raise_for_status()
    delta = admin.http.get(start["@odata.deltaLink"], headers=tracking).json()
    live = [r for r in delta["value"] if "$deletedEntity" not in r.get("@odata.context", "")]
    gone = {r["id"] for r in delta["value"] if "$deletedEntity" in r.get("@odata.context", "")}
    assert ids(live) == {existing, created}
    assert [r["filename"] for r in live if r["activitymimeattachmentid"] == existing] == ["renamed.txt"]
    assert gone == {removed, cascaded}
    assert admin.http.get(f"{SET}({cascaded})").status_code == 404
    assert "@odata.deltaLink" in delta


def test_security_follows_the_parent_activity(admin: Admin, people: dict[str, str]) -> None:
    parent = admin.activity(owner=people["alice"])
    refused = attach(admin.http, parent, **acting(people["bob"]))
    assert error_code(refused) == (403, ACCESS_DENIED)
    attachment = entity_id(attach(admin.http, parent, **acting(people["alice"])))
    assert admin.http.get(f"{SET}({attachment})", headers=acting(people["alice"])).status_code == 200
    assert error_code(admin.http.get(f"{SET}({attachment})", headers=acting(people["bob"]))) == (403, ACCESS_DENIED)
    of_parent = {"$filter": f"_objectid_value eq {parent}"}
    assert admin.http.get(SET, params=of_parent, headers=acting(people["bob"])).json()["value"] == []
    assert ids(admin.http.get(SET, params=of_parent, headers=acting(people["alice"])).json()["value"]) == {attachment}
    tracked = admin.http.get(SET, headers={"Prefer": "odata.track-changes", **acting(people["bob"])}).json()
    assert attachment not in ids(tracked["value"])
    for method in ("PATCH", "DELETE"):
        body = {"filename": "x.txt"} if method == "PATCH" else None
        answer = admin.http.request(method, f"{SET}({attachment})", json=body, headers=acting(people["bob"]))
        assert error_code(answer) == (403, ACCESS_DENIED)
    assert admin.http.delete(f"{SET}({attachment})", headers=acting(people["alice"])).status_code == 204


def test_the_body_must_be_base64_within_the_upload_limit(admin: Admin) -> None:
    assert CrmSandboxSettings().crm_sandbox_max_upload_file_size == 5_242_880  # Dynamics' default
    parent = admin.activity()
    assert attach(admin.http, parent, os.urandom(LIMIT)).status_code == 204
    too_large = attach(admin.http, parent, os.urandom(LIMIT + 1))
    assert error_code(too_large) == (400, BAD_PAYLOAD) and "maxuploadfilesize" in too_large.json()["error"]["message"]
    bad = admin.http.post(SET, json={"body": "not base64!", "objectid_activitypointer@odata.bind":
                                     f"/activitypointers({parent})"})  # fmt: skip
    assert error_code(bad) == (400, BAD_PAYLOAD) and "base64" in bad.json()["error"]["message"]
    missing = attach(admin.http, "00000000-0000-0000-0000-00000000abcd")
    assert error_code(missing) == (400, BAD_PAYLOAD)
    ids_after = ids(admin.http.get(SET, params={"$filter": f"_objectid_value eq {parent}"}).json()["value"])
    assert len(ids_after) == 1  # the refused ones left nothing behind
