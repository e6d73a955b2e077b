"""The capture loop: poll each entity's delta link, publish what changed, then advance the cursor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from services.crm_capture.attachment_index import AttachmentIndex, Followed
from services.crm_capture.diff import Change, diff_delete, diff_row, to_event
from services.crm_capture.owners import OwnerMailboxes
from services.crm_capture.resync import is_reported, read_ids, vanished
from shared import topics
from shared.attachments import KEY as FILES
from shared.catalogue import EntitySpec
from shared.crm.client import ChangePage, CrmClient, InvalidCursor, NotFound
from shared.crm.fields import Row, read_attributes
from shared.crm.snapshot import Snapshot
from shared.crm.state import CrmState
from shared.failures import retry_after
from shared.kafka import encode
from shared.metrics import Metrics, failure_status
from shared.pacing import Pacer

log = logging.getLogger("fieldsync.crm_capture")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CaptureLoop:
    """Polls Web API change tracking for a list of entities and publishes ItemChanged to crm.changes.

    Lifecycle:
    - start: `run(stop)` is called once the producer is started; the cursor (delta link) of each
      entity is read from Redis, or change tracking starts afresh with a full read (resync.py).
    - each entity on its own schedule: follow the delta link through all pages; diff every row against
      its snapshot; send the events and wait until the broker acked all of them; only then store the
      new snapshots and the new delta link. A crash in between replays the page (at least once).
    - a delta link Dynamics no longer accepts (InvalidCursor: the token outlived the retention) is logged
      and replaced by a full read: every row diffed against its snapshot (a known row is no create, an
      unchanged one nothing), and every row with a snapshot that the read lacks reported deleted.
    - errors: that entity's round is abandoned (nothing committed) and retried with its own backoff
      (exponential, capped at `backoff_cap_s`, at least Retry-After), logged once per streak and once when
      it recovers; the other entities keep their interval: one failing entity never blocks the others.
    - shutdown: when `stop` is set, the round in progress finishes (its cursor is committed) and `run`
      returns; main.py then stops the producer and closes the clients.
    """

    client: CrmClient
    state: CrmState
    producer: AIOKafkaProducer
    owners: OwnerMailboxes
    specs: list[EntitySpec]
    poll_interval_s: float = 1.0
    backoff_cap_s: float = 30.0
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    metrics: Metrics = field(default_factory=Metrics)
    # Held through each entity's poll; the security capture holds it while it sends refreshes from the snapshots,
    # so a refresh never carries a snapshot older than a change this loop has published but not yet stored.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    files: AttachmentIndex | None = None  # appointments' files (attachment_index.py); None: not followed

    async def run(self, stop: asyncio.Event) -> None:
        pacer = Pacer(self.poll_interval_s, self.backoff_cap_s)
        names = [spec.name for spec in self.specs]
        while not stop.is_set():
            for spec in self.specs:
                if stop.is_set() or not pacer.is_due(spec.name, time.monotonic()):
                    continue
                try:
                    async with self.lock:
                        await self.poll(spec)
                except Exception as exc:  # any failure: retry this entity later, never crash the service
                    self.metrics.retried("crm", failure_status(exc))
                    if pacer.failed(spec.name, time.monotonic(), retry_after(exc)) == 1:
                        log.warning("crm_capture poll of %s failed, backing off: %r", spec.name, exc)
                else:
                    self.metrics.cursor_ok("crm", "", spec.name)
                    if streak := pacer.succeeded(spec.name, time.monotonic()):
                        log.info("crm_capture recovered %s after %d failed polls", spec.name, streak)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pacer.wait(names, time.monotonic()))

    async def poll(self, spec: EntitySpec) -> int:
        """One round for one entity; returns the number of events published."""
        link = await self.state.cursor(spec.name)
        if link is None:
            return await self.reread(spec)
        try:
            page = await self.client.changes(spec.entity_set, spec.key_attribute, link, read_attributes(spec))
        except InvalidCursor as exc:
            log.warning(
                "crm_capture: the delta link of %s is no longer accepted (%s): reading every row afresh", spec.name, exc
            )
            return await self.reread(spec)
        return await self.publish(spec, page, link)

    async def reread(self, spec: EntitySpec) -> int:
        """Change tracking afresh: every live row against its snapshot, and a known row the read lacks deleted."""
        known = await self.state.known_ids(spec.name)  # before the read: see resync.py
        page = await self.client.changes(spec.entity_set, spec.key_attribute, None, read_attributes(spec))
        gone = vanished(known, read_ids(page.rows, spec.key_attribute))
        return await self.publish(spec, replace(page, deleted=gone), None, inferred=True)

    async def publish(self, spec: EntitySpec, page: ChangePage, link: str | None, inferred: bool = False) -> int:
        """Diff, send and wait for the acks, then store snapshots and the page's delta link.

        `inferred`: the page's deletions come from snapshots (a full read), not from Dynamics' tombstones.
        An entity with files (appointments) follows its attachments first: the rows whose files changed join the
        page, every row carries its files, and the attachments' delta link is stored with the page's."""
        followed: Followed | None = None
        if self.files is not None and spec.field(FILES) is not None:
            followed = await self.files.follow()
            rows = [*page.rows, *await self._rows_of(spec, page, followed.parents)]
            page = replace(page, rows=await self.files.with_files(rows, spec.key_attribute))
        pending: list[tuple[str, Change | None, Snapshot | None, Snapshot | None]] = []
        for row in page.rows:
            crm_id = str(row[spec.key_attribute]).lower()
            previous = await self.state.snapshot(spec.name, crm_id)
            mailbox = await self.owners.mailbox(row.get("_ownerid_value"))
            echo = await self.state.echo(spec.name, crm_id)
            result = diff_row(spec, previous, row, mailbox, echo)
            if result.stale:
                continue
            pending.append((crm_id, result.change, result.snapshot, previous))
        for crm_id in page.deleted:
            previous = await self.state.snapshot(spec.name, crm_id)
            if inferred and not is_reported(previous):
                continue
            echo = await self.state.echo(spec.name, crm_id)
            pending.append((crm_id, diff_delete(previous, echo), None, previous))
        acks: list[Any] = []
        sent = []
        for crm_id, change, _, _ in pending:
            if change is not None:
                event = to_event(change, spec.name, crm_id, event_id=self.new_id(), now=self.clock(), position=link)
                sent.append(event)
                acks.append(
                    await self.producer.send(
                        topics.CRM_CHANGES.full_name, encode(event), key=topics.crm_item_key(spec.name, crm_id)
                    )
                )
        await asyncio.gather(*acks)  # the broker acked every event of this round
        self.metrics.produced(topics.CRM_CHANGES.full_name, len(sent))
        for event in sent:
            self.metrics.hop("capture", (event.captured_at - event.occurred_at).total_seconds())
        for crm_id, _, snapshot, previous in pending:
            if snapshot is None:
                await self.state.drop_snapshot(spec.name, crm_id)
            else:  # not over a newer snapshot the applier recorded while this round was read and sent
                await self.state.store_read_snapshot(spec.name, crm_id, snapshot, previous)
        await self.state.store_cursor(spec.name, page.delta_link)
        if followed is not None and self.files is not None:
            await self.files.commit(followed)
        return len(acks)

    async def _rows_of(self, spec: EntitySpec, page: ChangePage, ids: set[str]) -> list[Row]:
        """The rows of the records whose files changed that the page lacks (one gone meanwhile: its delete comes)."""
        present = {str(row[spec.key_attribute]).lower() for row in page.rows} | set(page.deleted)
        rows = []
        for crm_id in sorted(ids - present):
            try:
                rows.append(await self.client.get(spec.entity_set, crm_id, read_attributes(spec)))
            except NotFound:
                continue
        return rows
