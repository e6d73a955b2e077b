"""Performs one delta against a mailbox: conditional EWS writes, links, snapshots, echo fingerprints, retries.

A delete with keep_item (a CRM delete the tables withhold) unlinks: the mailbox keeps the item, its links,
snapshot and echo go, and an appointment or task loses the tracking category (it is no longer tracked, so
a later edit is neither sent to the deleted record nor tracked into a new one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from services.exchange_applier.apply import (
    creation_marker,
    item_key,
    plan_update,
    remember,
    result_of,
    retry_delay,
    self_contained,
    with_tracking,
    without_tracking,
)
from services.exchange_applier.attachments import AttachmentRefused, ExchangeFiles
from services.exchange_applier.records import AppliedRecords
from shared import attachment_errors
from shared.attachments import KEY as FILES
from shared.events import ApplyResult, ItemDelta
from shared.exchange import fields as exchange_fields
from shared.exchange.client import ExchangeClient, ItemState, entity_stamp
from shared.exchange.errors import Conflict, ExchangeError, ItemNotFound, Transient
from shared.exchange.properties import CREATION_MARKER
from shared.exchange.snapshot import EXACT, VERSION, fields_of
from shared.exchange.state import ExchangeState

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    result: ApplyResult
    exchange_id: str | None = None
    written: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    superseded: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str | None = None


@dataclass
class ExchangeWriter:
    """The effects of apply.py's decisions; retries transient failures, never decides."""

    client: ExchangeClient
    state: ExchangeState
    records: AppliedRecords
    retry_attempts: int = 5
    retry_base_s: float = 0.2
    retry_max_s: float = 10.0
    conflict_retries: int = 5
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_retry: Callable[[BaseException], None] | None = None  # told of each transient failure it retries (metrics)
    files: ExchangeFiles | None = None  # an appointment's attachments (None: a delta's files are not written)

    async def _retry(self, attempt: int, exc: Transient) -> None:
        if self.on_retry is not None:
            self.on_retry(exc)
        await self.sleep(retry_delay(attempt, exc.retry_after, self.retry_base_s, self.retry_max_s))

    async def _call(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Bounded retries of a transient failure; the last one propagates (the loop backs off and retries)."""
        for attempt in range(1, self.retry_attempts + 1):
            try:
                return await call(*args)
            except Transient as exc:
                if attempt == self.retry_attempts:
                    raise
                await self._retry(attempt, exc)
        raise AssertionError("unreachable")

    async def apply(self, delta: ItemDelta) -> Outcome:
        key = item_key(delta)
        events = await self.records.applied_events(key)
        if delta.event_id in events:
            return Outcome("duplicate", delta.exchange_id)
        assert delta.mailbox is not None  # validated
        exchange_id = delta.exchange_id
        if exchange_id is None and delta.crm_id:
            exchange_id = await self.state.linked_exchange(delta.entity, delta.crm_id, delta.mailbox)
        if delta.op == "delete" and delta.keep_item:
            outcome = await self._unlink(delta, exchange_id)
        elif delta.op == "delete":
            outcome = await self._delete(delta, exchange_id)
        elif FILES in delta.changed and self.files is not None:
            rest = delta.model_copy(update={"changed": {k: v for k, v in delta.changed.items() if k != FILES}})
            outcome = await self._with_files(delta, await self._upsert(rest, exchange_id, events))
        else:
            outcome = await self._upsert(delta, exchange_id, events)
        await self.records.record_applied(key, remember(events, delta.event_id))
        return outcome

    async def _with_files(self, delta: ItemDelta, outcome: Outcome) -> Outcome:
        """The delta's other fields are written: now the item's files. Files over the cap are refused once the rest
        is written and recorded, before the delta is recorded applied (a replay with a larger cap copies them)."""
        assert self.files is not None and delta.mailbox is not None
        mailbox, exchange_id = delta.mailbox, outcome.exchange_id
        if exchange_id is None:
            return outcome
        changekey = outcome.version
        if changekey is None:
            item = await self._read(mailbox, delta.entity, exchange_id)
            if item is None:
                return outcome
            changekey = item.changekey
        done = await self.files.sync(mailbox, exchange_id, changekey, delta.changed[FILES])
        if done.changekey is not None:
            written = {**outcome.written, FILES: done.value}
            await self.state.record_write(mailbox, exchange_id, entity=delta.entity, crm_id=delta.crm_id,
                                          written=written, version=done.changekey, replace_snapshot=False)
            result: ApplyResult = "applied" if outcome.result == "skipped" else outcome.result
            outcome = replace(outcome, result=result, written=written, version=done.changekey)
        if done.too_large:
            raise AttachmentRefused(attachment_errors.too_large(done.too_large, self.files.store.cap_bytes))
        return outcome

    async def _read(self, mailbox: str, entity: str, exchange_id: str | None) -> ItemState | None:
        if exchange_id is None:
            return None
        return await self._call(self.client.get_item, mailbox, entity, exchange_id)

    async def _delete(self, delta: ItemDelta, exchange_id: str | None) -> Outcome:
        mailbox, entity = str(delta.mailbox), delta.entity
        item = await self._read(mailbox, entity, exchange_id)
        if exchange_id is None or item is None:
            if exchange_id is not None:
                await self.state.forget_item(mailbox, exchange_id, entity, delta.crm_id)
            return Outcome("skipped", exchange_id, note="no linked item to delete")
        # Forget first: the capture must not report fieldsync's own delete as a user delete.
        await self.state.forget_item(mailbox, exchange_id, entity, delta.crm_id)
        with contextlib.suppress(ItemNotFound):  # already gone: the effect is there
            await self._call(self.client.delete, mailbox, entity, exchange_id, None)
        return Outcome("applied", exchange_id)

    async def _unlink(self, delta: ItemDelta, exchange_id: str | None) -> Outcome:
        mailbox, entity = str(delta.mailbox), delta.entity
        if exchange_id is None:
            return Outcome("skipped", None, note="no linked item to unlink")
        # Links first: from here on the capture reports the item unlinked (its edits stay out of CRM).
        await self.state.forget_item(mailbox, exchange_id, entity, delta.crm_id)
        for _ in range(self.conflict_retries):
            item = await self._read(mailbox, entity, exchange_id)
            categories = without_tracking(item.attributes.get("categories")) if item is not None else None
            if item is None:  # deleted in the mailbox (an Exchange delete kept out of CRM): only the link went
                return Outcome("applied", exchange_id, note="unlinked: the item was already gone")
            if categories is None:
                return Outcome("applied", exchange_id, note="unlinked: the item stays in the mailbox")
            try:
                version = await self._call(
                    self.client.update, mailbox, entity, exchange_id, item.changekey, {"categories": categories or None}
                )
            except Conflict:
                continue
            except ItemNotFound:
                return Outcome("applied", exchange_id, note="unlinked: the item was already gone")
            return Outcome("applied", exchange_id, version=version,
                           note="unlinked: the item stays in the mailbox, no longer tracked")
        raise ExchangeError(f"the item kept changing: {self.conflict_retries} stale ChangeKey answers in a row")

    async def _create(self, delta: ItemDelta) -> Outcome:
        """Create the item, marked, unless an earlier attempt already did: a crash between the EWS write and
        the Redis records, or a create that timed out after EWS stored it, leaves a marked item to adopt."""
        mailbox, entity = str(delta.mailbox), delta.entity
        write = exchange_fields.to_exchange(entity, delta.changed)
        marker = creation_marker(delta)
        attributes = {**with_tracking(entity, write.attributes), CREATION_MARKER: marker, **entity_stamp(entity)}
        await self.state.announce_create(mailbox, marker)  # a capture finding the item first knows it for ours
        for attempt in range(1, self.retry_attempts + 1):
            found = await self._call(self.client.find_created, mailbox, entity, marker)
            if found is not None:
                return await self._created(delta, found, exchange_fields.to_canonical(entity, found.attributes),
                                           marker, note="adopted the item an earlier attempt created")
            try:
                created = await self.client.create(mailbox, entity, attributes)
            except Transient as exc:  # perhaps stored anyway: look for it again before another create
                if attempt == self.retry_attempts:
                    raise
                await self._retry(attempt, exc)
                continue
            # What the capture will read back: every mapped field, normalised by the mapping (unset = null).
            skipped = (*write.unmapped, *write.read_only)
            note = f"not writable in Exchange: {', '.join(skipped)}" if skipped else None
            return await self._created(delta, created, exchange_fields.to_canonical(entity, write.attributes), marker,
                                       note)
        raise AssertionError("unreachable")

    async def _created(
        self, delta: ItemDelta, item: ItemState, written: dict[str, Any], marker: str, note: str | None
    ) -> Outcome:
        await self.state.record_write(str(delta.mailbox), item.exchange_id, entity=delta.entity, crm_id=delta.crm_id,
                                      written=written, version=item.changekey, replace_snapshot=True, created=marker)
        return Outcome("applied", item.exchange_id, {k: written[k] for k in delta.changed if k in written},
                       item.changekey, note=note)

    async def _upsert(self, delta: ItemDelta, exchange_id: str | None, events: list[str]) -> Outcome:
        mailbox, entity = str(delta.mailbox), delta.entity
        if exchange_id is not None:
            unread = await self._update_as_last_seen(delta, mailbox, exchange_id, events)
            if unread is not None:
                return unread
        for _ in range(self.conflict_retries):
            item = await self._read(mailbox, entity, exchange_id)
            if item is None or exchange_id is None:  # unlinked, or deleted in the mailbox: create it
                return await self._create(delta)
            current = exchange_fields.to_canonical(entity, item.attributes)
            plan = plan_update(delta, current, events)
            write = exchange_fields.to_exchange(entity, plan.fields, item.attributes)
            if plan.action != "write" or not write.attributes:
                if delta.crm_id:  # link the pair even when nothing had to be written
                    await self.state.link(entity, delta.crm_id, mailbox, exchange_id)
                return Outcome(result_of(plan) if plan.action != "write" else "skipped", exchange_id,
                               superseded=plan.superseded, version=item.changekey)
            written = _written(entity, plan.fields, {**item.attributes, **write.attributes})
            await self.state.announce(mailbox, exchange_id, written)  # before the write: see diff_item
            try:
                version = await self._call(
                    self.client.update, mailbox, entity, exchange_id, item.changekey, write.attributes
                )
            except Conflict:
                continue  # changed between our read and our write: read again and decide again
            except ItemNotFound:
                exchange_id = None
                continue
            before = item.last_modified.isoformat() if item.last_modified else None
            await self.state.record_write(mailbox, exchange_id, entity=entity, crm_id=delta.crm_id,
                                          written=written, version=version, replace_snapshot=False, before=before)
            return Outcome(result_of(plan), exchange_id, written, version, plan.superseded)
        raise ExchangeError(f"the item kept changing: {self.conflict_retries} stale ChangeKey answers in a row")

    async def _update_as_last_seen(
        self, delta: ItemDelta, mailbox: str, exchange_id: str, events: list[str]
    ) -> Outcome | None:
        """The update without reading the item first: planned against the snapshot (the item's values as
        last seen, by the capture or by our own last write) and sent against the snapshot's ChangeKey, so
        it succeeds only if the item is still exactly that; None when it cannot be done so (no snapshot,
        a field the snapshot lacks, nothing to write, an indexed container that is written whole and so
        needs the item's other entries, or a stale ChangeKey): the caller then reads the item."""
        snapshot = await self.state.snapshot(mailbox, exchange_id)
        if snapshot is None:
            return None
        version, base = snapshot.get(VERSION), fields_of(snapshot)
        # Only a snapshot that is the whole item at its ChangeKey is a base: after a write over an item read
        # anew, the item may hold changes not captured yet, which a write planned on the snapshot would undo.
        if not version or snapshot.get(EXACT) != version or any(key not in base for key in delta.changed):
            return None
        plan = plan_update(delta, base, events)
        if plan.action != "write" or plan.superseded:  # "already there" or "changed" need the item to confirm
            return None
        write = exchange_fields.to_exchange(delta.entity, plan.fields)
        if not self_contained(delta.entity, plan.fields, write.attributes):
            return None
        written = _written(delta.entity, plan.fields, write.attributes)
        await self.state.announce(mailbox, exchange_id, written)  # before the write: see diff_item
        try:
            changekey = await self._call(
                self.client.update, mailbox, delta.entity, exchange_id, str(version), write.attributes
            )
        except (Conflict, ItemNotFound):
            return None
        await self.state.record_write(mailbox, exchange_id, entity=delta.entity, crm_id=delta.crm_id,
                                      written=written, version=changekey, replace_snapshot=False,
                                      exact=True)  # exact before: exact after
        return Outcome(result_of(plan), exchange_id, written, changekey, plan.superseded)


def _written(entity: str, fields: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """The canonical values of `fields` as the item holds them once `attributes` are written."""
    canonical = exchange_fields.to_canonical(entity, attributes)
    return {k: canonical[k] for k in fields if k in canonical}
