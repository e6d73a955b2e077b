"""The capture loop: poll each entity's delta link, publish what changed, then advance the cursor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from services.crm_capture.diff import Change, Snapshot, diff_delete, diff_row, to_event
from services.crm_capture.owners import OwnerMailboxes
from services.crm_capture.state import CrmState
from shared import topics
from shared.catalogue import EntitySpec
from shared.clients.crm import CrmClient
from shared.clients.crm_fields import read_attributes
from shared.pacing import backoff_delay
from shared.kafka import encode

log = logging.getLogger("fieldsync.crm_capture")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CaptureLoop:
    """Polls Web API change tracking for a list of entities and publishes ItemChanged to crm.changes.

    Lifecycle:
    - start: `run(stop)` is called once the producer is started; the cursor (delta link) of each
      entity is read from Redis, or change tracking starts afresh (every existing row is a create).
    - each round, per entity: follow the delta link through all pages; diff every row against its
      snapshot; send the events and wait until the broker acked all of them; only then store the
      new snapshots and the new delta link. A crash in between replays the page (at least once).
    - errors: the round is abandoned (nothing is committed), the loop waits with exponential
      backoff capped at `backoff_cap_s`, logging once per streak and once when it recovers.
    - shutdown: when `stop` is set, the current round finishes (its cursor is committed) and `run`
      returns; main.py then stops the producer and closes the clients.
    """

    client: CrmClient
    state: CrmState
    producer: AIOKafkaProducer
    owners: OwnerMailboxes
    specs: list[EntitySpec]
    fieldsync_user: str | None
    poll_interval_s: float = 1.0
    backoff_cap_s: float = 30.0
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                for spec in self.specs:
                    await self.poll(spec)
            except Exception as exc:  # any failure: retry the round later, never crash the service
                failures += 1
                if failures == 1:
                    log.warning("crm_capture poll failed, backing off: %r", exc)
                delay = backoff_delay(failures, self.poll_interval_s, self.backoff_cap_s)
            else:
                if failures:
                    log.info("crm_capture recovered after %d failed polls", failures)
                failures, delay = 0, self.poll_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def poll(self, spec: EntitySpec) -> int:
        """One round for one entity; returns the number of events published."""
        link = await self.state.cursor(spec.name)
        page = await self.client.changes(spec.entity_set, spec.key_attribute, link, read_attributes(spec))
        pending: list[tuple[str, Change | None, Snapshot | None, Snapshot | None]] = []
        for row in page.rows:
            crm_id = str(row[spec.key_attribute]).lower()
            previous = await self.state.snapshot(spec.name, crm_id)
            mailbox = await self.owners.mailbox(row.get("_ownerid_value"))
            echo = await self.state.echo(spec.name, crm_id)
            result = diff_row(spec, previous, row, mailbox, self.fieldsync_user, echo)
            pending.append((crm_id, result.change, result.snapshot, previous))
        for crm_id in page.deleted:
            previous = await self.state.snapshot(spec.name, crm_id)
            echo = await self.state.echo(spec.name, crm_id)
            pending.append((crm_id, diff_delete(previous, echo), None, previous))
        acks: list[Any] = []
        for crm_id, change, _, _ in pending:
            if change is not None:
                event = to_event(change, spec.name, crm_id, event_id=self.new_id(), now=self.clock(), position=link)
                acks.append(
                    await self.producer.send(
                        topics.CRM_CHANGES.full_name, encode(event), key=topics.crm_item_key(spec.name, crm_id)
                    )
                )
        await asyncio.gather(*acks)  # the broker acked every event of this round
        for crm_id, _, snapshot, previous in pending:
            if snapshot is None:
                await self.state.drop_snapshot(spec.name, crm_id)
            else:  # not over a newer snapshot the applier recorded while this round was read and sent
                await self.state.store_read_snapshot(spec.name, crm_id, snapshot, previous)
        await self.state.store_cursor(spec.name, page.delta_link)
        return len(acks)
