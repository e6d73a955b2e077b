"""Traffic generator: changes records on both sides at a steady rate, through the protocols, and records each.

    report = await run_traffic(settings, rate=10, duration=30, crm_share=0.5)
    for change in report.changes: change.side, change.entity, change.record_id, change.field, change.sent_at

Lifecycle of run_traffic: open both sides (list what can be changed), then a scheduler computes each
change's due time (start + i / rate) and launches it then, whatever earlier changes still take, so a slow
write shows as latency rather than as a lower rate; at most `max_in_flight` changes run at once (beyond
that the rate drops, and the report says so). It waits for the changes in flight, closes both sides and
returns the report. Cancelling it cancels the changes in flight and closes both sides.

With `two_sided_share` and the linked `pairs` (infra.sandbox.traffic_pairs), that share of the changes are made
as paired edits: the same field of one linked record changed on both sides within `pair_gap_s`; a paired edit
takes two slots of the schedule, so the rate stays what was asked. Without them nothing differs.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.sandbox.seed import SandboxClientSettings
from infra.sandbox.traffic_crm import CrmSide, Made, new_value
from infra.sandbox.traffic_exchange import ExchangeSide, sandbox_mailboxes
from infra.sandbox.traffic_pairs import LinkedPair, PairedEdit, PairPicker, slot_share
from infra.sandbox.traffic_shape import TrafficShape

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
    pair: str | None = None  # the label of the paired edit this change is one half of


@dataclass
class TrafficReport:
    rate: float
    duration_s: float
    planned: int
    changes: list[TrafficChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    paired: int = 0  # paired edits started (two changes each)

    @property
    def achieved_rate(self) -> float:
        return len(self.changes) / self.elapsed_s if self.elapsed_s else 0.0

    def on(self, side: str) -> list[TrafficChange]:
        return [c for c in self.changes if c.side == side]

    def summary(self) -> str:
        paired = f", {self.paired} paired edits" if self.paired else ""
        return (
            f"{len(self.changes)}/{self.planned} changes in {self.elapsed_s:.1f}s "
            f"({self.achieved_rate:.1f}/s of {self.rate:g}/s asked): crm {len(self.on('crm'))}, "
            f"exchange {len(self.on('exchange'))}, errors {len(self.errors)}{paired}"
        )


async def _one(side_name: str, make: Callable[[], Awaitable[Made]], label: str, report: TrafficReport,
               pair: str | None = None) -> None:
    sent = datetime.now(UTC)
    try:
        entity, record_id, mailbox, key, value, modified = await make()
    except Exception as exc:  # every failure is counted and reported; the run goes on
        report.errors.append(f"{side_name} {label}: {exc!r}")
        return
    acked = datetime.now(UTC)
    report.changes.append(TrafficChange(side_name, entity, record_id, mailbox, key, value, sent, acked,
                                        modified or acked, pair))


async def _paired(crm: CrmSide, exchange: ExchangeSide, edit: PairedEdit, labels: tuple[str, str],
                  rng: random.Random, gap_s: float, report: TrafficReport) -> None:
    """Both halves of one paired edit: the first side at once, the other `delay` later (sent, not acked)."""
    delay, crm_first = rng.uniform(0.0, gap_s), rng.random() < 0.5
    crm_value = new_value(edit.field, labels[0], rng)
    exchange_value = f"{edit.field} {labels[1]}"

    async def later(make: Callable[[], Awaitable[Made]], wait: float) -> Made:
        await asyncio.sleep(wait)
        return await make()

    await asyncio.gather(
        _one("crm", lambda: later(lambda: crm.write(edit.crm, edit.field, crm_value), 0.0 if crm_first else delay),
             labels[0], report, labels[0]),
        _one("exchange", lambda: later(lambda: exchange.write(edit.exchange, edit.attribute, exchange_value),
                                       delay if crm_first else 0.0), labels[1], report, labels[0]),
    )


async def run_traffic(
    settings: SandboxClientSettings,
    rate: float,
    duration: float,
    crm_share: float = 0.5,
    mailboxes: list[str] | None = None,
    seed: int | None = None,
    max_in_flight: int = 64,
    progress: Progress = print,
    *,
    pairs: Sequence[LinkedPair] = (),
    two_sided_share: float = 0.0,
    pair_gap_s: float = 1.0,
    retries: int = 0,
    opened: Callable[[], Awaitable[None]] | None = None,
    shape: TrafficShape | None = None,
    run_id: str | None = None,
) -> TrafficReport:
    """Make round(rate * duration) changes, a `crm_share` of the single ones on the CRM side, `two_sided_share` of
    them as paired edits of `pairs` (see module docstring); `retries`: how often the Exchange half sends a
    throttled, unavailable or dropped update again (the CRM half's client retries those itself); `opened` is
    awaited once both sides are listed, before the first change (a benchmark turns its faults on there); `shape`
    weights each single change's entity and field (traffic_shape.py); `run_id` labels the values (default: drawn
    from the seed), so two runs with one seed make the same choices with values of their own."""
    if rate <= 0 or duration <= 0 or not 0.0 <= crm_share <= 1.0:
        raise ValueError("rate and duration must be positive and crm_share within 0..1")
    paired_slots = slot_share(two_sided_share)
    rng = random.Random(seed)
    drawn = f"{rng.randrange(16**6):06x}"
    run_id = run_id or drawn
    report = TrafficReport(rate=rate, duration_s=duration, planned=round(rate * duration))
    crm = CrmSide(settings)
    exchange = ExchangeSide(settings, mailboxes if mailboxes is not None else await sandbox_mailboxes(settings),
                            retries=retries)
    tasks: set[asyncio.Task[None]] = set()
    try:
        await asyncio.gather(crm.open() if crm_share > 0 or paired_slots else asyncio.sleep(0),
                             exchange.open() if crm_share < 1 or paired_slots else asyncio.sleep(0))
        if not crm.targets and not exchange.targets:
            raise RuntimeError("nothing to change on either side: run `fieldsync sandbox seed` first")
        picker = PairPicker(list(pairs), crm, exchange) if paired_slots else None
        if picker is not None and not picker.edits:
            raise RuntimeError(f"none of the {len(pairs)} linked pairs can be edited on both sides")
        progress(f"traffic {run_id}: {len(crm.targets)} CRM records, {len(exchange.targets)} mailbox items "
                 f"({len(exchange.created)} created to have one per mailbox)"
                 + (f", {len(picker.edits)} linked pairs to edit on both sides" if picker else ""))
        if opened is not None:
            await opened()
        slots = asyncio.Semaphore(max_in_flight)

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            slots.release()

        loop = asyncio.get_running_loop()
        start = loop.time()
        next_progress = start + 1.0
        index = 0
        while index < report.planned:
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            await slots.acquire()
            label = f"{run_id}-{index:06d}"
            if picker is not None and index + 1 < report.planned and rng.random() < paired_slots:
                labels = (label, f"{run_id}-{index + 1:06d}")
                task = asyncio.create_task(_paired(crm, exchange, picker.pick(rng), labels, rng, pair_gap_s, report))
                report.paired += 1
                index += 2
            else:
                on_crm = (rng.random() < crm_share and crm.targets) or not exchange.targets
                side: CrmSide | ExchangeSide = crm if on_crm else exchange
                change = functools.partial(side.change, rng, label, shape)
                task = asyncio.create_task(_one("crm" if on_crm else "exchange", change, label, report))
                index += 1
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
