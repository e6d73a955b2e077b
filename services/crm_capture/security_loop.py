"""The security capture: reads the security tables each interval, publishes the changed rows as one round on
crm.security, then re-publishes the records the round may decide differently on crm.changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from services.crm_capture.diff import to_event
from services.crm_capture.filter_refresh import NEEDED, after, entities_of, filters_of, moved, touches_filters
from services.crm_capture.security_reader import SecuritySource
from services.crm_capture.security_refresh import Affected, affected, refresh_change
from services.crm_capture.security_tables import (
    TABLES,
    Row,
    RowChange,
    SecurityTable,
    TableRead,
    diff_table,
    round_events,
)
from services.crm_capture.security_tables import unchanged as is_unchanged
from shared import topics
from shared.crm.snapshot import Snapshot, attributes_of
from shared.failures import retry_after
from shared.filter_set import USER_QUERIES, identities
from shared.kafka import encode
from shared.metrics import Metrics, failure_status
from shared.pacing import Pacer

log = logging.getLogger("fieldsync.crm_capture")
SECURITY_KEY = "security"  # crm.security's one key: one partition, every round in order
_UNIT = "security"


def _now() -> datetime:
    return datetime.now(UTC)


class RoundStore(Protocol):
    """The security capture's own state (security_store.py SecurityStore)."""

    async def rows(self, table: str) -> dict[str, Row]: ...

    async def cursor(self, table: str) -> str | None: ...

    async def fingerprint(self, table: str) -> str | None: ...

    async def reserve_round(self) -> int: ...

    async def commit(self, reads: Iterable[TableRead], changes: Iterable[RowChange]) -> None: ...


class RecordSnapshots(Protocol):
    """The capture's record snapshots (shared/crm/state.py CrmState)."""

    async def known_ids(self, scope: str) -> set[str]: ...

    async def snapshot(self, scope: str, item_id: str) -> dict[str, Any] | None: ...


class Templates(Protocol):
    """Copies the default sync filter templates to a user whose mailbox fieldsync syncs for the first time
    (templates.py TemplateCopier)."""

    async def ensure(self, users: Iterable[str]) -> None: ...


@dataclass
class SecurityCapture:
    """Captures the security tables into rounds of SecurityChanged, then refreshes the affected records.

    Lifecycle:
    - start: main.py runs one round before the record loop starts (the policy learns the tables before the
      first record), then `run(stop)` beside the record loop; each round is due `interval_s` after the last.
    - a round: read every table (security_tables.py: change tracking where the Web API has it, a fingerprint
      otherwise) and compare its rows with the rows last published. No change: the delta links are stored and
      nothing is published. Otherwise: reserve the next round number, send the changed rows on crm.security
      under one key and wait for the acks; then, holding `lock` (the record loop holds it while it polls, so no
      record change is between its publish and its snapshot), send a refresh of every affected record from its
      snapshot (security_refresh.py; for a change of the sync filters, exactly the records whose membership
      changed: filter_refresh.py) and wait for the acks; only then store the rows, delta links and
      fingerprints (one transaction). A crash in between publishes the round again under a new number.
    - templates: before the user filters are read, every user with a mailbox that fieldsync has not synced
      before gets the default filter templates copied into their userqueries (`templates`), so the same round
      reads them.
    - errors: the round is abandoned (nothing stored) and tried again with backoff (exponential, capped at
      `backoff_cap_s`, at least Retry-After), logged once per streak and once on recovery.
    - shutdown: when `stop` is set, the round in progress finishes and `run` returns.
    """

    source: SecuritySource
    store: RoundStore
    records: RecordSnapshots
    producer: AIOKafkaProducer
    synced: frozenset[str]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    interval_s: float = 10.0
    backoff_cap_s: float = 30.0
    tables: tuple[SecurityTable, ...] = TABLES
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    metrics: Metrics = field(default_factory=Metrics)
    templates: Templates | None = None

    async def run(self, stop: asyncio.Event) -> None:
        pacer = Pacer(self.interval_s, self.backoff_cap_s)
        pacer.succeeded(_UNIT, time.monotonic())  # main.py ran the first round
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pacer.wait([_UNIT], time.monotonic()))
            if stop.is_set():
                return
            await self.attempt(pacer)

    async def attempt(self, pacer: Pacer) -> None:
        """One round, its failure or success counted in `pacer` (logged once per streak)."""
        try:
            await self.poll()
        except Exception as exc:  # any failure: try the round again later, never crash the service
            self.metrics.retried("crm", failure_status(exc))
            if pacer.failed(_UNIT, time.monotonic(), retry_after(exc)) == 1:
                log.warning("crm_capture security round failed, backing off: %r", exc)
        else:
            if streak := pacer.succeeded(_UNIT, time.monotonic()):
                log.info("crm_capture security rounds recovered after %d failures", streak)

    async def poll(self) -> int:
        """One round; returns the number of SecurityChanged events published (0: nothing changed)."""
        reads: list[TableRead] = []
        changes: list[RowChange] = []
        for table in self.tables:
            if table.name == USER_QUERIES and self.templates is not None:
                await self.templates.ensure(await self._mailbox_users(reads))
            read = await self.source.read(table, await self.store.cursor(table.name))
            reads.append(read)
            if not is_unchanged(read, await self.store.fingerprint(table.name)):
                changes += diff_table(read, await self.store.rows(table.name))
        if changes:
            number = await self.store.reserve_round()
            events = round_events(changes, number, self.clock(), [self.new_id() for _ in changes])
            acks = [
                await self.producer.send(topics.CRM_SECURITY.full_name, encode(event), key=SECURITY_KEY)
                for event in events
            ]
            await asyncio.gather(*acks)
            self.metrics.produced(topics.CRM_SECURITY.full_name, len(events))
            async with self.lock:
                scope = affected(changes, self.synced)
                if touches_filters(changes):
                    scope = Affected(scope.entities, scope.records | await self._moved(changes, scope.entities))
                refreshed = await self.refresh(scope, number)
            log.info("crm_capture security round %d: %d rows changed, %d records refreshed",
                     number, len(changes), refreshed)  # fmt: skip
        await self.store.commit(reads, changes)
        return len(changes)

    async def refresh(self, scope: Affected, number: int) -> int:
        """Send a refresh of every affected record that has a snapshot; returns how many, once acked."""
        acks: list[Any] = []
        for entity, crm_id, snapshot in await self._snapshots(scope):
            change = refresh_change(snapshot, number)
            event = to_event(change, entity, crm_id, event_id=self.new_id(), now=self.clock(), position=None)
            key = topics.crm_item_key(entity, crm_id)
            acks.append(await self.producer.send(topics.CRM_CHANGES.full_name, encode(event), key=key))
        await asyncio.gather(*acks)
        self.metrics.produced(topics.CRM_CHANGES.full_name, len(acks))
        return len(acks)

    async def _mailbox_users(self, reads: list[TableRead]) -> list[str]:
        """The users with a mailbox address, as the systemusers read of this round leaves them."""
        rows = dict(await self.store.rows("systemusers"))
        for read in reads:
            if read.table.name == "systemusers":
                rows = {} if read.whole else rows
                rows.update(read.rows)
                for gone in read.deleted:
                    rows.pop(gone.lower(), None)
        return sorted(u for u, row in rows.items() if row.get("internalemailaddress") and not row.get("isdisabled"))

    async def _moved(self, changes: list[RowChange], whole: frozenset[str]) -> frozenset[tuple[str, str]]:
        """The records a change of the filters moves in or out of some mailbox (filter_refresh.py), among the
        entities not refreshed whole anyway."""
        stored = {table: await self.store.rows(table) for table in NEEDED}
        now = after(stored, changes)
        records = []
        for entity in sorted((entities_of(changes, stored) & self.synced) - whole):
            for crm_id in sorted(await self.records.known_ids(entity)):
                snapshot = await self.records.snapshot(entity, crm_id)
                if snapshot is not None:
                    records.append((entity, crm_id, attributes_of(snapshot)))
        who = identities(now.get("systemusers", {}).values(), now.get("teammemberships", {}).values())
        return frozenset(moved(filters_of(stored), filters_of(now), who, records))

    async def _snapshots(self, scope: Affected) -> list[tuple[str, str, Snapshot]]:
        wanted = sorted(scope.records | {(e, i) for e in scope.entities for i in await self.records.known_ids(e)})
        found = []
        for entity, crm_id in wanted:
            snapshot = await self.records.snapshot(entity, crm_id)
            if snapshot is not None:
                found.append((entity, crm_id, snapshot))
        return found
