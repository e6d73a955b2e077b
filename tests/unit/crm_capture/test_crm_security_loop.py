"""SecurityCapture against fakes of its ports: rounds published then refreshes, nothing for an unchanged round,
nothing stored before the acks, refreshes wait for the record loop's lock."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.crm_capture.security_loop import SECURITY_KEY, SecurityCapture
from services.crm_capture.security_tables import ATTRIBUTE_METADATA, SHARES, RowChange, SecurityTable, TableRead
from shared import topics
from shared.crm.snapshot import OWNER, OWNER_MAILBOX, STATE, VERSION
from shared.events import ItemChanged, SecurityChanged

T0 = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
ROLES = SecurityTable("roles", "roleid")
POA = SecurityTable(SHARES, "principalobjectaccessid")
METADATA = SecurityTable(ATTRIBUTE_METADATA, "MetadataId", tracked=False)
TABLES = (ROLES, POA, METADATA)


class FakeSource:
    """Tables as rows by key; `read` answers like change tracking (changes since the cursor) or whole."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t.name: {} for t in TABLES}
        self.version = 0
        self.changed: dict[str, dict[str, int]] = {t.name: {} for t in TABLES}  # key -> version (-1: deleted)

    def put(self, table: str, key: str, row: dict[str, Any]) -> None:
        self.version += 1
        self.tables[table][key] = row
        self.changed[table][key] = self.version

    def delete(self, table: str, key: str) -> None:
        self.version += 1
        del self.tables[table][key]
        self.changed[table][key] = -self.version

    async def read(self, table: SecurityTable, cursor: str | None) -> TableRead:
        rows = self.tables[table.name]
        if not table.tracked:
            return TableRead(table, dict(rows), whole=True, fingerprint=json.dumps(rows, sort_keys=True))
        since = int(cursor or 0)
        if cursor is None:
            return TableRead(table, dict(rows), whole=True, cursor=str(self.version))
        live = {k: rows[k] for k, v in self.changed[table.name].items() if v > since}
        gone = tuple(k for k, v in self.changed[table.name].items() if -v > since)
        return TableRead(table, live, gone, cursor=str(self.version))


class FakeStore:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.cursors: dict[str, str] = {}
        self.fingerprints: dict[str, str] = {}
        self.round = 0
        self.commits = 0

    async def rows(self, table: str) -> dict[str, dict[str, Any]]:
        return dict(self.tables.get(table, {}))

    async def cursor(self, table: str) -> str | None:
        return self.cursors.get(table)

    async def fingerprint(self, table: str) -> str | None:
        return self.fingerprints.get(table)

    async def reserve_round(self) -> int:
        self.round += 1
        return self.round

    async def commit(self, reads: Iterable[TableRead], changes: Iterable[RowChange]) -> None:
        self.commits += 1
        for change in changes:
            rows = self.tables.setdefault(change.table, {})
            if change.deleted:
                rows.pop(change.principal, None)
            else:
                rows[change.principal] = change.row
        for read in reads:
            if read.cursor is not None:
                self.cursors[read.table.name] = read.cursor
            if read.fingerprint is not None:
                self.fingerprints[read.table.name] = read.fingerprint


class FakeSnapshots:
    def __init__(self, snapshots: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.snapshots = snapshots

    async def known_ids(self, scope: str) -> set[str]:
        return {crm_id for entity, crm_id in self.snapshots if entity == scope}

    async def snapshot(self, scope: str, item_id: str) -> dict[str, Any] | None:
        return self.snapshots.get((scope, item_id))


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, str]] = []
        self.fail = False

    async def send(self, topic: str, value: bytes, key: str) -> asyncio.Future[Any]:
        self.sent.append((topic, value, key))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail:
            ack.set_exception(ConnectionError("the broker is away"))
        else:
            ack.set_result(None)
        return ack

    def security(self) -> list[SecurityChanged]:
        return [SecurityChanged.model_validate_json(v) for t, v, _ in self.sent if t == topics.CRM_SECURITY.full_name]

    def refreshes(self) -> list[ItemChanged]:
        return [ItemChanged.model_validate_json(v) for t, v, _ in self.sent if t == topics.CRM_CHANGES.full_name]


def snapshot(title: str) -> dict[str, Any]:
    return {"jobtitle": title, OWNER: "u1", OWNER_MAILBOX: "a@x", STATE: 0, VERSION: "7"}


def capture(source: FakeSource, store: FakeStore, producer: FakeProducer, **options: Any) -> SecurityCapture:
    ids = itertools.count(1)
    snapshots = FakeSnapshots({("contact", "c1"): snapshot("A"), ("contact", "c2"): snapshot("B"),
                               ("task", "t1"): snapshot("T")})  # fmt: skip
    return SecurityCapture(
        source=source, store=store, records=snapshots, producer=producer,  # type: ignore[arg-type]
        synced=frozenset({"contact", "task"}), tables=TABLES, clock=lambda: T0, new_id=lambda: f"id-{next(ids)}",
        **options,
    )  # fmt: skip


async def test_the_first_round_publishes_every_row_then_refreshes_every_record() -> None:
    source, store, producer = FakeSource(), FakeStore(), FakeProducer()
    source.put("roles", "r1", {"roleid": "r1", "name": "Salesperson"})
    source.put("roles", "r2", {"roleid": "r2", "name": "Manager"})
    assert await capture(source, store, producer).poll() == 2

    events = producer.security()
    assert [(e.table, e.principal, e.round, e.last_in_round) for e in events] == [
        ("roles", "r1", 1, False), ("roles", "r2", 1, True),
    ]  # fmt: skip
    assert all(key == SECURITY_KEY for t, _, key in producer.sent if t == topics.CRM_SECURITY.full_name)
    refreshes = producer.refreshes()
    assert sorted((e.entity, e.crm_id) for e in refreshes) == [("contact", "c1"), ("contact", "c2"), ("task", "t1")]
    first = next(e for e in refreshes if e.crm_id == "c1")
    assert first.changed == first.previous == {"jobtitle": "A"} and first.version == "7"
    assert first.context == {"ownerid": "u1", "owner_mailbox": "a@x", "statecode": 0, "refresh": True,
                             "security_round": 1, "attributes": {"_ownerid_value": "u1", "statecode": 0}}  # fmt: skip
    assert [t for t, _, _ in producer.sent][:2] == [topics.CRM_SECURITY.full_name] * 2  # the round came first
    assert store.tables["roles"].keys() == {"r1", "r2"} and store.cursors["roles"] == "2"


async def test_a_round_without_a_change_publishes_nothing_and_keeps_the_round_number() -> None:
    source, store, producer = FakeSource(), FakeStore(), FakeProducer()
    source.put("roles", "r1", {"roleid": "r1", "name": "Salesperson"})
    loop = capture(source, store, producer)
    await loop.poll()
    sent = len(producer.sent)
    assert await loop.poll() == 0 and await loop.poll() == 0
    assert len(producer.sent) == sent and store.round == 1 and store.commits == 3

    source.put("roles", "r1", {"roleid": "r1", "name": "Salesperson"})  # written again, the same values
    assert await loop.poll() == 0 and len(producer.sent) == sent


async def test_a_share_refreshes_its_record_and_a_revoke_publishes_the_row_last_seen() -> None:
    source, store, producer = FakeSource(), FakeStore(), FakeProducer()
    loop = capture(source, store, producer)
    await loop.poll()  # nothing at all yet: no round
    assert producer.sent == [] and store.round == 0

    share = {"principalobjectaccessid": "s1", "objectid": "c2", "objecttypecode": "contact", "principalid": "u2",
             "accessrightsmask": 1}  # fmt: skip
    source.put(SHARES, "s1", share)
    assert await loop.poll() == 1
    assert [(e.entity, e.crm_id, e.context["security_round"]) for e in producer.refreshes()] == [("contact", "c2", 1)]

    source.delete(SHARES, "s1")
    assert await loop.poll() == 1
    revoked = producer.security()[-1]
    assert (revoked.deleted, revoked.row, revoked.round, revoked.last_in_round) == (True, share, 2, True)
    assert [(e.crm_id, e.context["security_round"]) for e in producer.refreshes()] == [("c2", 1), ("c2", 2)]


async def test_a_secured_attribute_refreshes_its_entity_and_an_unchanged_fingerprint_is_skipped() -> None:
    source, store, producer = FakeSource(), FakeStore(), FakeProducer()
    loop = capture(source, store, producer)
    source.put(ATTRIBUTE_METADATA, "m1", {"EntityLogicalName": "task", "LogicalName": "subject", "IsSecured": True})
    await loop.poll()
    assert [(e.entity, e.crm_id) for e in producer.refreshes()] == [("task", "t1")]
    store.tables[ATTRIBUTE_METADATA] = {}  # a fingerprint that holds skips the table without comparing rows
    assert await loop.poll() == 0


async def test_nothing_is_stored_until_the_broker_acked_and_the_next_round_publishes_it_again() -> None:
    source, store, producer = FakeSource(), FakeStore(), FakeProducer()
    source.put("roles", "r1", {"roleid": "r1", "name": "Salesperson"})
    loop = capture(source, store, producer)
    producer.fail = True
    with pytest.raises(ConnectionError):
        await loop.poll()
    assert store.commits == 0 and store.tables == {} and store.cursors == {}
    producer.fail = False
    assert await loop.poll() == 1
    assert [(e.principal, e.round, e.last_in_round) for e in producer.security()] == [("r1", 1, True), ("r1", 2, True)]


async def test_refreshes_wait_for_the_record_loops_lock() -> None:
    source, store, producer = FakeSource(), FakeStore(), FakeProducer()
    source.put("roles", "r1", {"roleid": "r1", "name": "Salesperson"})
    lock = asyncio.Lock()
    loop = capture(source, store, producer, lock=lock)
    async with lock:  # the record loop is polling
        task = asyncio.create_task(loop.poll())
        for _ in range(20):
            await asyncio.sleep(0)  # let the round run as far as it can
        assert len(producer.security()) == 1 and producer.refreshes() == [] and not task.done()
    assert await task == 1 and len(producer.refreshes()) == 3
