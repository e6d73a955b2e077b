"""WebApiSecurity against a fake Web API client: delta links, an expired one, a table without change tracking,
and the secured attributes of the synced entities."""

from __future__ import annotations

from typing import Any

import pytest

from services.crm_capture.security_reader import WebApiSecurity
from services.crm_capture.security_tables import ATTRIBUTE_METADATA, SecurityTable
from shared.crm.client import ChangePage, CrmError, InvalidCursor

ROLES = SecurityTable("roles", "roleid")
TEAMS = SecurityTable("teammemberships", "teammembershipid")
METADATA = SecurityTable(ATTRIBUTE_METADATA, "MetadataId", tracked=False)


class Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def json(self) -> dict[str, Any]:
        return self.body


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.expired = False
        self.untracked = {"teammemberships"}

    async def changes(self, entity_set: str, key: str, delta_link: str | None) -> ChangePage:
        self.calls.append(("changes", delta_link))
        if entity_set in self.untracked:
            raise CrmError(400, "0x80072491", "Change tracking is not enabled for the entity.")
        if delta_link and self.expired:
            raise InvalidCursor(400, "0x80044352", "Version stamp associated with the client has expired.")
        rows = [{"@odata.etag": 'W/"1"', "roleid": "R1", "name": "A"}]
        return ChangePage(rows, ["r2"] if delta_link else [], "link-2")

    async def query(self, entity_set: str) -> list[dict[str, Any]]:
        self.calls.append(("query", entity_set))
        return [{"teammembershipid": "M1", "teamid": "t1", "systemuserid": "u1"}]

    async def request(self, method: str, path: str, params: dict[str, str] | None = None) -> Response:
        self.calls.append((method, path))
        entity = path.split("'")[1]
        return Response({"value": [
            {"MetadataId": f"M-{entity}", "EntityLogicalName": entity, "LogicalName": "jobtitle", "IsSecured": True},
            {"MetadataId": f"N-{entity}", "EntityLogicalName": entity, "LogicalName": "nickname", "IsSecured": False},
        ]})  # fmt: skip


def reader() -> tuple[WebApiSecurity, FakeClient]:
    client = FakeClient()
    return WebApiSecurity(client, frozenset({"contact", "task"})), client  # type: ignore[arg-type]


async def test_a_delta_link_gives_the_changes_since_and_tracking_afresh_is_a_whole_read() -> None:
    security, _ = reader()
    fresh = await security.read(ROLES, None)
    assert fresh.whole and fresh.cursor == "link-2" and fresh.rows == {"r1": {"roleid": "R1", "name": "A"}}
    since = await security.read(ROLES, "link-1")
    assert not since.whole and since.deleted == ("r2",) and since.fingerprint is None


async def test_an_expired_delta_link_reads_every_row_afresh() -> None:
    security, client = reader()
    client.expired = True
    read = await security.read(ROLES, "link-1")
    assert read.whole and read.cursor == "link-2" and client.calls == [("changes", "link-1"), ("changes", None)]


async def test_a_table_without_change_tracking_is_read_whole_and_fingerprinted_from_then_on() -> None:
    security, client = reader()
    first = await security.read(TEAMS, None)
    second = await security.read(TEAMS, None)
    assert first == second and first.whole and first.fingerprint and first.cursor is None
    assert first.rows == {"m1": {"teammembershipid": "M1", "teamid": "t1", "systemuserid": "u1"}}
    assert client.calls == [("changes", None), ("query", "teammemberships"), ("query", "teammemberships")]


class Failing:
    async def changes(self, entity_set: str, key: str, delta_link: str | None) -> ChangePage:
        raise CrmError(500, None, "boom")


async def test_any_other_failure_fails_the_round() -> None:
    security = WebApiSecurity(Failing(), frozenset())  # type: ignore[arg-type]
    with pytest.raises(CrmError):
        await security.read(ROLES, None)
    assert security.untracked == set()


async def test_the_secured_attributes_of_every_synced_entity_are_one_whole_table() -> None:
    security, client = reader()
    read = await security.read(METADATA, None)
    assert read.whole and read.fingerprint and read.cursor is None
    assert read.rows == {
        "m-contact": {"EntityLogicalName": "contact", "LogicalName": "jobtitle", "IsSecured": True},
        "m-task": {"EntityLogicalName": "task", "LogicalName": "jobtitle", "IsSecured": True},
    }
    assert [path for _, path in client.calls] == [
        "EntityDefinitions(LogicalName='contact')/Attributes", "EntityDefinitions(LogicalName='task')/Attributes",
    ]  # fmt: skip
