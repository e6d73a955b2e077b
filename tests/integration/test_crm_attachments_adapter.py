"""CrmAttachments against the CRM sandbox over real HTTP: change tracking, listing, content, writes as a user."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from shared.crm.attachments import CrmAttachments, CrmFile
from shared.crm.client import CrmClient, Forbidden, RetryPolicy
from shared.settings import SANDBOX_CRM_SECRET
from tests.integration.sandbox.crm_admin import Admin, administering, entity_id

pytestmark = pytest.mark.integration
EVERY_BYTE = bytes(range(256)) * 3


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    with administering(tmp_path_factory.mktemp("crm")) as admin:
        yield admin


@pytest.fixture(scope="module")
def people(admin: Admin) -> dict[str, str]:
    return admin.salespeople("alice", "bob")


@pytest.fixture
async def files(admin: Admin) -> AsyncIterator[CrmAttachments]:
    client = CrmClient(admin.urls.api_url, admin.urls.token_url, "fieldsync", SecretStr(SANDBOX_CRM_SECRET),
                       retry=RetryPolicy(attempts=2, base_s=0.05))  # fmt: skip
    yield CrmAttachments(client)
    await client.aclose()


def attached(admin: Admin, parent: str, entity_set: str = "appointments", content: bytes = b"x") -> str:
    body = {"filename": "a.bin", "mimetype": "application/octet-stream", "body": base64.b64encode(content).decode(),
            f"objectid_{entity_set[:-1]}@odata.bind": f"/{entity_set}({parent})"}  # fmt: skip
    return entity_id(admin.http.post("activitymimeattachments", json=body))


def by_id(rows: list[CrmFile]) -> dict[str, CrmFile]:
    return {f.attachment_id: f for f in rows}


async def test_changes_start_with_every_file_then_report_changes_and_deletes(
    admin: Admin, files: CrmAttachments
) -> None:
    parent, doomed, task = admin.activity(), admin.activity(), admin.activity("tasks")
    existing, of_task = attached(admin, parent, content=b"12345"), attached(admin, task, "tasks")
    start = await files.changes(None)
    found = by_id(start.rows)
    assert found[existing] == CrmFile(existing, parent, "a.bin", "application/octet-stream", 5,
                                      found[existing].version)  # fmt: skip
    assert found[existing].version is not None and of_task not in found and start.delta_link
    added, cascaded = await files.add(parent, "new.txt", "text/plain", b"new", caller_id=None), attached(admin, doomed)
    admin.http.patch(f"activitymimeattachments({existing})", json={"body": base64.b64encode(b"12").decode()})
    await files.remove(added, caller_id=None)
    admin.http.delete(f"appointments({doomed})").raise_for_status()
    delta = await files.changes(start.delta_link)
    changed = by_id(delta.rows)
    assert set(changed) == {existing} and changed[existing].size == 2
    assert int(changed[existing].version or 0) > int(found[existing].version or 0)
    assert set(delta.deleted) == {added, cascaded}
    assert (await files.changes(delta.delta_link)).rows == []


async def test_of_lists_one_activitys_files_and_content_round_trips_binary_bytes(
    admin: Admin, files: CrmAttachments
) -> None:
    parent, other = admin.activity(), admin.activity()
    first = await files.add(parent, "all-bytes.bin", "application/octet-stream", EVERY_BYTE, caller_id=None)
    second = await files.add(parent.upper(), "empty.txt", "text/plain", b"", caller_id=None)
    await files.add(other, "elsewhere.txt", "text/plain", b"no", caller_id=None)
    listed = by_id(await files.of(parent.upper()))
    assert set(listed) == {first, second} and {f.parent_id for f in listed.values()} == {parent}
    assert listed[first].size == len(EVERY_BYTE) and listed[second].name == "empty.txt"
    assert await files.content(first) == EVERY_BYTE
    assert await files.content(second) == b""


async def test_writes_as_a_user_follow_the_parents_security(
    admin: Admin, people: dict[str, str], files: CrmAttachments
) -> None:
    parent = admin.activity(owner=people["alice"])
    with pytest.raises(Forbidden):
        await files.add(parent, "bob.txt", "text/plain", b"b", caller_id=people["bob"])
    mine = await files.add(parent, "alice.txt", "text/plain", b"a", caller_id=people["alice"])
    assert [f.name for f in await files.of(parent)] == ["alice.txt"]
    with pytest.raises(Forbidden):
        await files.remove(mine, caller_id=people["bob"])
    await files.remove(mine, caller_id=people["alice"])
    assert await files.of(parent) == []
    await files.remove(mine, caller_id=people["alice"])  # already gone: quiet
    await files.remove("00000000-0000-0000-0000-0000000000ff", caller_id=None)
