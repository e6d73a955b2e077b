"""One benchmark run against a started Stack: warm up, drive traffic, drain, measure.

Lifecycle of `run_scenario`: the bus observer starts first (it reads `applied` and `deadletter` from
the earliest offset); the warm-up waits until the initial sync of the seeded records has been applied
to the mailboxes and the bus is quiet, so traffic has linked items on both sides; traffic then runs
for `duration` at `rate` while a progress line is printed every few seconds; the drain waits until
every change is delivered or nothing new arrives for a while; the observer is closed in every case.
A child of the stack that dies aborts the run with an error naming it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.admin import AdminApi
from bench.measure import echo_conflicts, match, measure
from bench.observer import BusObserver, observing, stop_observing
from bench.processes import ProcessSampler
from bench.report import Result
from infra.runner.stack import Stack
from infra.sandbox.seed import address_of, user_names
from infra.sandbox.traffic import TrafficReport, run_traffic
from shared.events import ConflictRecord
from shared.settings import KafkaSettings

PROGRESS_EVERY_S = 5.0
IDLE_S = 5.0  # how long the stack's idle CPU is measured between warm-up and traffic
# infra.sandbox.seed.records_for, what reaches a mailbox: 2 contacts, 2 appointments, 2 tasks, a phone call, a
# letter, a fax, a recurring appointment and a service activity (the account is not synced).
SEEDED_RECORDS_PER_USER = 11


OWN = "bench (traffic, observer)"


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class StackDied(RuntimeError):
    """A child of the stack exited during the benchmark."""


@dataclass(frozen=True)
class Options:
    rate: float
    duration: float
    users: int
    crm_share: float
    poll_interval: float
    warmup_timeout: float = 180.0
    drain_quiet: float = 10.0
    drain_timeout: float = 90.0
    seed: int = 7

    @property
    def steady_skip_s(self) -> float:
        """The start of the traffic left out of the steady window (pipeline and clients warming up)."""
        return max(2.0, min(10.0, 0.2 * self.duration))


def check(stack: Stack) -> None:
    dead = stack.failed()
    if dead is not None:
        raise StackDied(f"{dead.name} died during the benchmark; see {dead.log_path}")


def _to_exchange(observer: BusObserver) -> int:
    return sum(1 for e in observer.applied if e.target == "exchange" and e.result in ("applied", "conflict_resolved"))


async def warm_up(stack: Stack, observer: BusObserver, options: Options) -> str:
    """Wait for the initial sync (one create per seeded record) and 3 quiet seconds; say how it went."""
    expected = SEEDED_RECORDS_PER_USER * options.users
    began = time.monotonic()
    last_count, last_change, next_line = -1, began, began + PROGRESS_EVERY_S
    while True:
        check(stack)
        now = time.monotonic()
        count = len(observer.applied)
        if count != last_count:
            last_count, last_change = count, now
        if _to_exchange(observer) >= expected and now - last_change >= 3.0:
            return f"initial sync applied ({_to_exchange(observer)} items created in mailboxes) in {now - began:.0f}s"
        if now - began > options.warmup_timeout:
            return (f"warm-up gave up after {options.warmup_timeout:.0f}s: {_to_exchange(observer)}/{expected} "
                    "seeded records reached the mailboxes; traffic runs anyway")
        if now >= next_line:
            next_line += PROGRESS_EVERY_S
            print(f"  warm-up {now - began:4.0f}s: {_to_exchange(observer)}/{expected} seeded records in mailboxes, "
                  f"{observer.dead_letters} dead letters", flush=True)
        await asyncio.sleep(0.2)


class TrafficLines:
    """Keeps the traffic generator's per-second line (to show changes made) and prints its other lines."""

    def __init__(self) -> None:
        self.made = 0

    def __call__(self, line: str) -> None:
        found = re.search(r"(\d+) done", line)
        if found and not line.startswith("traffic done"):
            self.made = int(found.group(1))
        else:
            print(f"  {line.strip()}", flush=True)


def _progress(observer: BusObserver, lines: TrafficLines, began: datetime, last: datetime) -> str:
    now = datetime.now(UTC)
    since = [e for e in observer.applied if e.applied_at >= began]
    recent = [(e.applied_at - e.occurred_at).total_seconds() for e in since if e.applied_at >= last]
    lag = f"{max(recent):.2f}s" if recent else "-"
    elapsed = (now - began).total_seconds()
    return (f"  {elapsed:5.1f}s: made {lines.made}, applied {len(since)} deltas "
            f"({sum(len(e.changed) for e in since)} fields), lag (max occurred->applied, last {PROGRESS_EVERY_S:g}s) "
            f"{lag}, dead letters {observer.dead_letters}")


async def drive(stack: Stack, observer: BusObserver, options: Options, status: Callable[[], str] | None = None,
                **traffic: Any) -> TrafficReport:
    """The traffic generator for `options.duration` at `options.rate` (with any further run_traffic options),
    a progress line every few seconds (followed by `status()`, when given); a child that dies stops it."""
    lines = TrafficLines()
    mailboxes = [address_of(name) for name in user_names(options.users)]
    began = datetime.now(UTC)
    task = asyncio.create_task(run_traffic(
        stack.settings.client_settings(), rate=options.rate, duration=options.duration,
        crm_share=options.crm_share, mailboxes=mailboxes, seed=options.seed, progress=lines, **traffic,
    ))
    last = began
    try:
        while not task.done():
            check(stack)
            await asyncio.wait({task}, timeout=PROGRESS_EVERY_S)
            if not task.done():
                extra = f", {status()}" if status is not None else ""
                print(_progress(observer, lines, began, last) + extra, flush=True)
                last = datetime.now(UTC)
    finally:
        if not task.done():
            task.cancel()
    return task.result()


def steady_window(report: TrafficReport, options: Options) -> tuple[datetime, datetime]:
    """From the first change (after the warm-up part of the traffic, Options.steady_skip_s) to the traffic's end."""
    first = min(c.sent_at for c in report.changes)
    return first + timedelta(seconds=options.steady_skip_s), first + timedelta(seconds=report.elapsed_s)


async def _drain(stack: Stack, observer: BusObserver, report: TrafficReport, options: Options,
                 admin: AdminApi) -> tuple[str, list[ConflictRecord]]:
    """Until every change is delivered (a conflict it lost counts) or nothing new arrives for a while; returns
    what happened and the conflicts recorded since the traffic began."""
    began, since = time.monotonic(), min(c.sent_at for c in report.changes)
    last_count, last_change = len(observer.applied), began
    while True:
        check(stack)
        now = time.monotonic()
        conflicts = await admin.conflicts(since)
        missing = sum(1 for d in match(report.changes, observer.applied, conflicts) if not d.delivered)
        if missing == 0:
            return f"drained in {now - began:.1f}s", conflicts
        if len(observer.applied) != last_count:
            last_count, last_change = len(observer.applied), now
        if now - last_change >= options.drain_quiet or now - began >= options.drain_timeout:
            return f"drain stopped after {now - began:.0f}s with {missing} changes not applied", conflicts
        print(f"  drain {now - began:4.0f}s: {missing} changes not applied yet", flush=True)
        await asyncio.sleep(2.0)


async def run_scenario(stack: Stack, options: Options, command: str, sampler: ProcessSampler,
                       dump: Path | None = None) -> Result:
    """Run the scenario; with `dump`, every DeltaApplied seen, every change made and every conflict recorded
    are written there (JSON lines) to look into a change that was not applied."""
    observer = BusObserver(KafkaSettings(bootstrap_servers=stack.settings.stack_bootstrap,
                                         fetch_max_wait_ms=stack.settings.fetch_max_wait_ms))
    task = await observing(observer)
    try:
        async with AdminApi(stack.settings.admin_root) as admin:
            notes = [await warm_up(stack, observer, options)]
            print(f"  {notes[0]}", flush=True)
            # Idle cost first: what each service burns with nothing to sync (polling, heartbeats).
            sampler.mark_cpu()
            await asyncio.sleep(IDLE_S)
            idle = sampler.cpu_s()
            sampler.mark_cpu()
            load = os.getloadavg()[0]
            began, own = time.monotonic(), _own_cpu_s()
            report = await drive(stack, observer, options)
            traffic_s, cpu = time.monotonic() - began, sampler.cpu_s()
            cpu[OWN] = _own_cpu_s() - own
            notes.append(f"load average (1 min) {load:.1f} at traffic start, {os.getloadavg()[0]:.1f} at its end, "
                         f"on {os.cpu_count()} cores")
            if not report.changes:
                raise RuntimeError(f"the traffic generator made no change: {report.errors[:3]}")
            drained, conflicts = await _drain(stack, observer, report, options, admin)
            notes.append(drained)
            print(f"  {notes[-1]}", flush=True)
    finally:
        await stop_observing(observer, task)
    if dump is not None:
        write_dump(dump, observer, report, conflicts)
    window = steady_window(report, options)
    first = min(c.sent_at for c in report.changes)
    deliveries = match(report.changes, observer.applied, conflicts)
    failed = sum(1 for e in observer.applied if e.result == "failed" and e.applied_at >= first)
    return Result(
        command=command,
        options={"rate": options.rate, "duration": options.duration, "users": options.users,
                 "crm_share": options.crm_share, "poll_interval": options.poll_interval},
        offered_rate=options.rate,
        source_rate=report.achieved_rate,
        traffic_errors=len(report.errors),
        failed_deltas=failed,
        dead_letters=observer.dead_letters,
        measurement=measure(deliveries, observer.applied, window),
        memory_mib={},
        cpu_s=cpu,
        idle_cpu_share={name: used / IDLE_S for name, used in idle.items()},
        traffic_s=traffic_s,
        notes=notes,
        dead_letter_reasons=dict(observer.dead_letter_reasons),
        traffic_error_examples=report.errors[:3],
        echo_conflicts=len(echo_conflicts(report.changes, conflicts)),
    )


def write_dump(path: Path, observer: BusObserver, report: TrafficReport, conflicts: list[ConflictRecord]) -> None:
    """JSON lines: every DeltaApplied seen, then every change made, then every conflict recorded, then the events
    of the topics the observer kept ({"topic": ..., "event": ...})."""
    with path.open("w") as out:
        out.writelines(e.model_dump_json() + "\n" for e in observer.applied)
        out.writelines(json.dumps({"change": asdict(c)}, default=str) + "\n" for c in report.changes)
        out.writelines(json.dumps({"conflict": c.model_dump(mode="json")}) + "\n" for c in conflicts)
        for topic, events in observer.kept.items():
            out.writelines(json.dumps({"topic": topic, "event": e}) + "\n" for e in events)
