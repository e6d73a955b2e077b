"""Traffic generator: changes records on both sides at a steady rate, through the protocols, and records each.

    report = await run_traffic(settings, rate=10, duration=30, crm_share=0.5)
    for change in report.changes: change.side, change.entity, change.record_id, change.field, change.sent_at

Lifecycle of run_traffic: open both sides (list what can be changed), then a scheduler computes each
change's due time (start + i / rate) and launches it then, whatever earlier changes still take, so a slow
write shows as latency rather than as a lower rate; at most `max_in_flight` changes run at once (beyond
that the rate drops, and the report says so). It waits for the changes in flight, closes both sides and
returns the report. Cancelling it cancels the changes in flight and closes both sides.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.sandbox.seed import SandboxClientSettings
from infra.sandbox.traffic_crm import CrmSide
from infra.sandbox.traffic_exchange import ExchangeSide, sandbox_mailboxes

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrafficChange:
    """One change made: where, which field, the value written, when it was sent and acknowledged.
    `modified_at` is the source's own modification time when it reports one (CRM modifiedon, whole
    seconds, so it may precede sent_at), else the ack time."""

    side: str  # "crm" or "exchange"
    entity: str
    record_id: str
    mailbox: str | None
    field: str  # canonical field key of the catalogue
    value: Any
    sent_at: datetime
    acked_at: datetime
    modified_at: datetime


@dataclass
class TrafficReport:
    rate: float
    duration_s: float
    planned: int
    changes: list[TrafficChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def achieved_rate(self) -> float:
        return len(self.changes) / self.elapsed_s if self.elapsed_s else 0.0

    def on(self, side: str) -> list[TrafficChange]:
        return [c for c in self.changes if c.side == side]

    def summary(self) -> str:
        return (
            f"{len(self.changes)}/{self.planned} changes in {self.elapsed_s:.1f}s "
            f"({self.achieved_rate:.1f}/s of {self.rate:g}/s asked): crm {len(self.on('crm'))}, "
            f"exchange {len(self.on('exchange'))}, errors {len(self.errors)}"
        )


async def _one(side_name: str, side: CrmSide | ExchangeSide, rng: random.Random, label: str,
               report: TrafficReport) -> None:
    sent = datetime.now(UTC)
    try:
        entity, record_id, mailbox, key, value, modified = await side.change(rng, label)
    except Exception as exc:  # every failure is counted and reported; the run goes on
        report.errors.append(f"{side_name} {label}: {exc!r}")
        return
    acked = datetime.now(UTC)
    report.changes.append(TrafficChange(side_name, entity, record_id, mailbox, key, value, sent, acked,
                                        modified or acked))


async def run_traffic(
    settings: SandboxClientSettings,
    rate: float,
    duration: float,
    crm_share: float = 0.5,
    mailboxes: list[str] | None = None,
    seed: int | None = None,
    max_in_flight: int = 64,
    progress: Progress = print,
) -> TrafficReport:
    """Make round(rate * duration) changes, a `crm_share` of them on the CRM side (see module docstring)."""
    if rate <= 0 or duration <= 0 or not 0.0 <= crm_share <= 1.0:
        raise ValueError("rate and duration must be positive and crm_share within 0..1")
    rng = random.Random(seed)
    run_id = f"{rng.randrange(16**6):06x}"
    report = TrafficReport(rate=rate, duration_s=duration, planned=round(rate * duration))
    crm = CrmSide(settings)
    exchange = ExchangeSide(settings, mailboxes if mailboxes is not None else await sandbox_mailboxes(settings))
    tasks: set[asyncio.Task[None]] = set()
    try:
        await asyncio.gather(crm.open() if crm_share > 0 else asyncio.sleep(0),
                             exchange.open() if crm_share < 1 else asyncio.sleep(0))
        if not crm.targets and not exchange.targets:
            raise RuntimeError("nothing to change on either side: run `fieldsync sandbox seed` first")
        progress(f"traffic {run_id}: {len(crm.targets)} CRM records, {len(exchange.targets)} mailbox items "
                 f"({len(exchange.created)} created to have one per mailbox)")
        slots = asyncio.Semaphore(max_in_flight)

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            slots.release()

        loop = asyncio.get_running_loop()
        start = loop.time()
        next_progress = start + 1.0
        for index in range(report.planned):
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            await slots.acquire()
            on_crm = (rng.random() < crm_share and crm.targets) or not exchange.targets
            side_name, side = ("crm", crm) if on_crm else ("exchange", exchange)
            task = asyncio.create_task(_one(side_name, side, rng, f"{run_id}-{index:06d}", report))
            tasks.add(task)
            task.add_done_callback(finished)
            if loop.time() >= next_progress:
                next_progress += 1.0
                elapsed = loop.time() - start
                progress(f"  {elapsed:5.1f}s: {len(report.changes)} done ({len(report.changes) / elapsed:.1f}/s), "
                         f"{len(tasks)} in flight, {len(report.errors)} errors")
        await asyncio.gather(*tasks)
        # The schedule spans planned/rate seconds even though the last change starts one interval earlier.
        report.elapsed_s = max(loop.time() - start, report.planned / rate)
    finally:
        for task in tasks:
            task.cancel()
        await crm.close()
        await exchange.close()
    progress(f"traffic done: {report.summary()}")
    return report
