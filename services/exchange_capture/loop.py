"""The capture loop: per mailbox and folder, SyncFolderItems page by page; publish, then advance the sync state.

One sync state per mailbox folder, never per entity: the folder's items are classified by folder.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from services.exchange_capture.diff import Change, diff_delete, diff_item, known_version, to_event
from services.exchange_capture.files import ItemFiles
from services.exchange_capture.folder import entity_of, field_sets, folders_of, series_or
from services.exchange_capture.resync import vanished
from shared import topics
from shared.exchange import fields as exchange_fields
from shared.exchange.client import FOLDERS, NATIVE, ExchangeClient, ItemState
from shared.exchange.errors import ExchangeError, InvalidCursor, NoMailbox
from shared.exchange.properties import CREATION_MARKER
from shared.exchange.snapshot import Observed, Snapshot
from shared.exchange.state import ExchangeState
from shared.exchange.sync import SyncChange, SyncPage
from shared.failures import retry_after
from shared.kafka import encode
from shared.links import merge_key
from shared.mailbox_health import NO_HEALTH, MailboxHealthSink, classify
from shared.metrics import Metrics, failure_status
from shared.pacing import Pacer

log = logging.getLogger("fieldsync.exchange_capture")
# Each folder's canonical field names: how a never-linked item's snapshot tells its folder (resync.py).
FIELD_SETS = field_sets(exchange_fields.CODECS, FOLDERS)


def _now() -> datetime:
    return datetime.now(UTC)


def observe(entity: str, mailbox: str, item: ItemState, own_create: bool = False) -> Observed:
    """The pure view of an item read from EWS: canonical values plus tracking and organizer context."""
    attrs = item.attributes
    is_organizer = None
    if FOLDERS.get(entity) == "calendar":
        organizer = getattr(attrs.get("organizer"), "email_address", None)
        is_organizer = attrs.get("my_response_type") == "Organizer" or (organizer or "").lower() == mailbox.lower()
    return Observed(
        values=exchange_fields.to_canonical(entity, attrs),
        version=item.changekey,
        modified_at=item.last_modified,
        categories=tuple(attrs.get("categories") or ()),
        is_organizer=is_organizer,
        own_create=own_create,
    )


@dataclass
class CaptureLoop:
    """Follows SyncFolderItems for every watched mailbox and folder, publishing to exchange.changes.

    Lifecycle:
    - start: `run(stop)` after the producer started; the mailbox list comes from `mailboxes()` (settings
      or CRM systemusers) and is refreshed every `mailbox_refresh_s`; each mailbox gets one watcher task.
      The folders are those of the watched entities, each once (the tasks folder holds tasks, phone calls,
      letters and faxes): one sync state per folder, each item classified by its link (folder.py).
      A folder without a stored sync state is synced afresh with a full read (resync.py).
    - each round, per mailbox (at most `concurrency` mailboxes at once; the client's worker pool bounds
      EWS requests), per folder on its own schedule, page by page: fetch the changed items, diff them
      against their snapshots, send the events and wait until the broker acked all of them; only then
      store the new snapshots and the page's sync state. A crash in between replays the page.
    - a sync state Exchange no longer accepts (InvalidCursor: ErrorInvalidSyncStateData) is logged and
      replaced by a full read of that folder: every item diffed against its snapshot (a known item is no
      create, an unchanged one nothing), then every item of the folder with a snapshot that the read
      lacks reported deleted; the new sync state is stored only once all of it is published.
    - errors: that folder's round is abandoned (nothing committed) and retried with its own backoff
      (exponential, capped at `backoff_cap_s`, at least Retry-After); the mailbox's other folders and the
      other mailboxes carry on. An address without a mailbox (ErrorNonExistentMailbox: a CRM user with no
      Exchange mailbox) is logged the first time, and its watcher ends; it is tried again after the next
      refresh of the mailbox list.
    - shutdown: when `stop` is set, rounds in progress finish (their sync state is committed) and `run`
      returns; main.py then stops the producer and closes the clients.
    """

    client: ExchangeClient
    state: ExchangeState
    producer: AIOKafkaProducer
    mailboxes: Callable[[], Awaitable[list[str]]]
    entities: list[str]
    poll_interval_s: float = 1.0
    backoff_cap_s: float = 30.0
    mailbox_refresh_s: float = 300.0
    concurrency: int = 4
    page_size: int = 512
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    watching: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    without_mailbox: set[str] = field(default_factory=set)  # found to have none: logged once
    metrics: Metrics = field(default_factory=Metrics)
    health: MailboxHealthSink = field(default_factory=lambda: NO_HEALTH)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (mailbox, folder) -> its current error
    files: ItemFiles | None = None  # appointments' files with their digests (files.py); None: not captured

    async def run(self, stop: asyncio.Event) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        try:
            while not stop.is_set():
                try:
                    wanted = set(await self.mailboxes())
                except Exception as exc:  # keep watching the mailboxes we know
                    log.warning("exchange_capture could not refresh the mailbox list: %r", exc)
                    wanted = set(self.watching)
                for mailbox in set(self.watching) - wanted:
                    self.watching.pop(mailbox).cancel()
                for mailbox in [m for m, task in self.watching.items() if task.done()]:
                    del self.watching[mailbox]  # it had no mailbox: try it again from this refresh on
                for mailbox in sorted(wanted - set(self.watching)):
                    self.watching[mailbox] = asyncio.create_task(self.watch(mailbox, stop, gate))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.mailbox_refresh_s)
        finally:
            await asyncio.gather(*self.watching.values(), return_exceptions=True)

    @property
    def folders(self) -> list[str]:
        return folders_of(self.entities, FOLDERS)

    async def watch(self, mailbox: str, stop: asyncio.Event, gate: asyncio.Semaphore) -> None:
        pacer = Pacer(self.poll_interval_s, self.backoff_cap_s)
        folders = self.folders
        while not stop.is_set():
            async with gate:
                for folder in folders:
                    if stop.is_set() or not pacer.is_due(folder, time.monotonic()):
                        continue
                    try:
                        synced = await self.poll(mailbox, folder)
                    except NoMailbox as exc:  # not a failure to retry: nothing to watch until the list is refreshed
                        self._failing(mailbox, folder, exc)
                        await self._record(self.health.failed(mailbox, folder, exc, self.clock()))
                        if mailbox not in self.without_mailbox:
                            self.without_mailbox.add(mailbox)
                            log.warning("exchange_capture skips %s: it has no mailbox (%s)", mailbox, exc)
                        return
                    except Exception as exc:  # any failure: retry this folder later, never crash the service
                        self.metrics.retried("exchange", failure_status(exc))
                        self._failing(mailbox, folder, exc)
                        await self._record(self.health.failed(mailbox, folder, exc, self.clock()))
                        if pacer.failed(folder, time.monotonic(), retry_after(exc)) == 1:
                            log.warning("exchange_capture poll of %s %s failed, backing off: %r", mailbox, folder, exc)
                        continue
                    self.metrics.cursor_ok("exchange", mailbox, folder)
                    self._failing(mailbox, folder, None)
                    await self._record(self.health.succeeded(mailbox, folder, synced, self.clock()))
                    if streak := pacer.succeeded(folder, time.monotonic()):
                        log.info("exchange_capture recovered %s %s after %d failed polls", mailbox, folder, streak)
                    if mailbox in self.without_mailbox:
                        self.without_mailbox.discard(mailbox)
                        log.info("exchange_capture watches %s: it has a mailbox now", mailbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pacer.wait(folders, time.monotonic()))

    def _failing(self, mailbox: str, folder: str, exc: BaseException | None) -> None:
        """Keep the gauge of failing folders by kind of error current (in memory: this process's own polls)."""
        before = self.errors.get((mailbox, folder))
        if exc is None:
            self.errors.pop((mailbox, folder), None)
        else:
            self.errors[(mailbox, folder)] = classify(exc)
        if before != self.errors.get((mailbox, folder)):
            self.metrics.failing(self.errors.values())

    async def _record(self, recording: Awaitable[None]) -> None:
        """Mailbox health is for operators: a Redis hiccup while recording it never stops the capture."""
        try:
            await recording
        except Exception as exc:  # the next poll records again
            log.debug("exchange_capture could not record mailbox health: %r", exc)

    async def poll(self, mailbox: str, folder: str) -> int:
        """Every page of one folder's changes; returns the number of events published."""
        sync_state = await self.state.cursor(mailbox, folder)
        if sync_state is None:
            return await self.resync(mailbox, folder)
        try:
            return await self.follow(mailbox, folder, sync_state)
        except InvalidCursor as exc:
            log.warning("exchange_capture: the sync state of %s %s is no longer accepted (%s): reading the folder "
                        "afresh", mailbox, folder, exc)
            return await self.resync(mailbox, folder)

    async def follow(self, mailbox: str, folder: str, sync_state: str) -> int:
        """The folder's changes since `sync_state`, page by page, each page's state stored once it is published."""
        published = 0
        while True:
            page = await self.client.sync_page(mailbox, NATIVE[folder], sync_state, self.page_size)
            published += await self.publish(mailbox, folder, page, sync_state)
            if page.sync_state != sync_state:
                await self.state.store_cursor(mailbox, folder, page.sync_state)
            if page.complete or page.sync_state == sync_state:
                return published
            sync_state = page.sync_state

    async def resync(self, mailbox: str, folder: str) -> int:
        """The folder afresh: every item against its snapshot, then its known items the read lacks as deletes.

        The sync state is stored only at the end: a crash replays the whole read, which finds its items known."""
        known = await self.state.known_ids(mailbox)  # before the read: see resync.py
        seen: set[str] = set()
        sync_state: str | None = None
        published = 0
        while True:
            page = await self.client.sync_page(mailbox, NATIVE[folder], sync_state, self.page_size)
            seen.update(change.exchange_id for change in page.changes)
            published += await self.publish(mailbox, folder, page, None)
            if page.complete:
                break
            if page.sync_state == sync_state:  # no progress: deletes cannot be told from an unfinished read
                raise ExchangeError(f"SyncFolderItems of {mailbox} {folder} made no progress")
            sync_state = page.sync_state
        candidates = [(x, await self.state.snapshot(mailbox, x), await self.state.linked_crm(mailbox, x))
                      for x in sorted(known - seen)]  # fmt: skip
        linked = [(x, snapshot, FOLDERS.get(link[0], "") if link else None) for x, snapshot, link in candidates]
        gone = vanished(folder, linked, seen, FIELD_SETS)
        if gone:
            deletes = tuple(SyncChange("delete", x, None) for x in gone)
            published += await self.publish(mailbox, folder, SyncPage(deletes, page.sync_state, True), None)
        await self.state.store_cursor(mailbox, folder, page.sync_state)
        return published

    async def publish(self, mailbox: str, folder: str, page: SyncPage, position: str | None) -> int:
        latest = {c.exchange_id: c for c in page.changes}  # the last change of each item in the page
        previous_of = {x: await self.state.snapshot(mailbox, x) for x in latest}
        links = {x: await self.state.linked_crm(mailbox, x) for x in latest}
        # Each item is the entity its link names, else the folder's own (folder.py); None: not ours to capture.
        entity_for = {x: entity_of(folder, link[0] if link else None, self.entities, NATIVE, FOLDERS)
                      for x, link in links.items()}  # fmt: skip
        # Items still at the ChangeKey last seen or written (fieldsync's own writes, above all) are not fetched.
        known = {x for x, c in latest.items() if c.kind != "delete" and known_version(previous_of[x], c.changekey)}
        live_ids = [x for x, c in latest.items() if c.kind != "delete" and x not in known and entity_for[x]]
        items = await self.client.get_items(mailbox, NATIVE[folder], live_ids)
        if self.files is not None:
            items = await self.files.resolved(mailbox, items)
        pending: list[tuple[str, str, Change | None, Snapshot | None, Snapshot | None]] = []
        for exchange_id in latest:
            entity = entity_for[exchange_id]
            if exchange_id in known or entity is None:
                continue
            previous = previous_of[exchange_id]
            item = items.get(exchange_id)
            if item is None:  # deleted, or gone between the sync and the fetch
                linked = links[exchange_id] is not None
                pending.append((exchange_id, entity, diff_delete(previous, linked), None, previous))
                continue
            # An unlinked series master in the calendar is a recurring appointment (folder.py).
            entity = series_or(entity, links[exchange_id] is not None, item.attributes.get("type"), self.entities)
            echo = await self.state.echo(mailbox, exchange_id)
            marker = item.attributes.get(CREATION_MARKER)
            own_create = previous is None and bool(marker) and await self.state.is_creating(mailbox, str(marker))
            result = diff_item(previous, observe(entity, mailbox, item, own_create), echo)
            pending.append((exchange_id, entity, result.change, result.snapshot, previous))
        acks: list[Any] = []
        sent = []
        for exchange_id, entity, change, _, _ in pending:
            if change is None:
                continue
            link = links[exchange_id]
            crm_id = link[1] if link and link[0] == entity else None
            event = to_event(change, entity, mailbox, exchange_id, crm_id,
                             event_id=self.new_id(), now=self.clock(), position=position)
            # Keyed by the CRM record it is (or would be) linked to: both sides of a pair on one partition.
            key = merge_key(entity, crm_id, mailbox, exchange_id)
            sent.append(event)
            acks.append(await self.producer.send(topics.EXCHANGE_CHANGES.full_name, encode(event), key=key))
        await asyncio.gather(*acks)  # the broker acked every event of this page
        self.metrics.produced(topics.EXCHANGE_CHANGES.full_name, len(sent))
        for event in sent:
            self.metrics.hop("capture", (event.captured_at - event.occurred_at).total_seconds())
        for exchange_id, _, _, snapshot, previous in pending:
            if snapshot is None:
                await self.state.drop_snapshot(mailbox, exchange_id)
            else:  # not over a newer snapshot the applier recorded while this page was read and sent
                await self.state.store_read_snapshot(mailbox, exchange_id, snapshot, previous)
        return len(acks)
