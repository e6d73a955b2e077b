"""The two phases of a sync-time test against a started isolated stack: the current policy, then the candidate.

Lifecycle of `run_phases`: watch the bus; wait until the seed's initial sync is applied and the bus is quiet; warm
the pipeline up with a few seconds of unmeasured traffic; then for each policy: store it in the isolated stack's
Redis (its policy worker re-reads the store every 2 s; that stack has no admin API), gate on the policy worker
deciding under it (a probe change whose change-window entry carries the version), drive traffic of the given
shape with one seed for both phases (the same records and fields in the same order, values labelled per phase),
drain until every change arrived or nothing new came for a while, and measure. The watch ends in every case. A
child of the stack that dies fails the run, naming it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from redis.asyncio import Redis

from infra.policytest.bus import AppliedWatch
from infra.policytest.report import PhaseReport, phase, samples
from infra.runner.stack import Stack
from infra.sandbox.traffic import TrafficReport, run_traffic
from infra.sandbox.traffic_crm import CrmSide
from infra.sandbox.traffic_shape import TrafficShape
from shared import redis_keys
from shared.catalogue import load_catalogue
from shared.change_window import ChangeWindow
from shared.events import Policy
from shared.policy_store import ConflictRuleChange, DirectionChange, PolicyStore
from shared.settings import KafkaSettings

Progress = Callable[[float, str], None]  # share of the run done (0..1), what it is doing
QUIET_S = 2.0  # no new DeltaApplied for this long: the initial sync, or a phase's drain, is over
WARMUP_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 30.0
GATE_TIMEOUT_S = 30.0
WARM_S = 3.0  # unmeasured traffic before the first phase
ACTOR = "fieldsync policy test"


@dataclass(frozen=True)
class PhasePlan:
    """What both phases share: the traffic's rate, duration, shape and seed."""

    rate: float
    duration_s: float
    shape: TrafficShape
    seed: int


class StackDied(RuntimeError):
    """A child of the isolated stack exited during the test."""


def _check(stack: Stack) -> None:
    dead = stack.failed()
    if dead is not None:
        raise StackDied(f"{dead.name} of the isolated stack died; see {dead.log_path}")


async def _quiet(stack: Stack, watch: AppliedWatch, timeout: float, done: Callable[[], bool] = lambda: False) -> float:
    """Poll until `done()` or no new DeltaApplied for QUIET_S (at least one seen), or the timeout; seconds taken."""
    began = time.monotonic()
    count, changed = len(watch.applied), began
    while time.monotonic() - began < timeout:
        _check(stack)
        if done():
            break
        if len(watch.applied) != count:
            count, changed = len(watch.applied), time.monotonic()
        elif count and time.monotonic() - changed >= QUIET_S:
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - began


async def _put_policy(store: PolicyStore, wanted: Policy, now: datetime) -> int:
    """Make the isolated stack's directions, conflict rules and organisation settings those of `wanted` (one
    version, in its Redis: the policy worker re-reads the store every policy_refresh_interval_s); the version in
    force."""
    have = await store.load_or_seed(load_catalogue(), now)
    changes = [DirectionChange(entity=entity, field=key, direction=direction)
               for entity, fields in wanted.directions.items() for key, direction in fields.items()
               if have.direction(entity, key) != direction]  # fmt: skip
    rules = [ConflictRuleChange(entity=entity, rule=rule) for entity, rule in wanted.conflict_rules.items()
             if have.conflict_rule(entity) != rule]  # fmt: skip
    settings = {name: value for name, value in wanted.settings.model_dump().items()
                if getattr(have.settings, name) != value}  # fmt: skip
    if not changes and not rules and not settings:
        return have.version
    return (await store.apply(changes, ACTOR, now, have.version, rules=rules, settings=settings)).version


async def _gate(stack: Stack, redis: Redis, version: int) -> None:
    """Until the policy worker decides a probe change under `version` (its change-window entry says so)."""
    crm = CrmSide(stack.settings.client_settings())
    await crm.open()
    try:
        target = next(t for t in crm.targets if t.entity_set == "contacts")
        window = ChangeWindow(redis)
        began = time.monotonic()
        while time.monotonic() - began < GATE_TIMEOUT_S:
            _check(stack)
            value = f"probe {uuid.uuid4().hex[:8]}"
            await crm.write(target, "nickname", value)
            for _ in range(25):
                entries = window.decode(await redis.lrange(redis_keys.CHANGE_WINDOW, 0, 20), datetime.now(UTC))
                mine = [e for e in entries if e.change.changed.get("nickname") == value]
                if mine:
                    if mine[0].policy_version >= version:
                        return
                    break
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the isolated policy worker did not decide under version {version} "
                           f"within {GATE_TIMEOUT_S:g}s")  # fmt: skip
    finally:
        await crm.close()


async def _warm(stack: Stack, watch: AppliedWatch, plan: PhasePlan, progress: Progress) -> None:
    """A short burst of the same traffic (another seed), drained and not measured: the first phase would otherwise
    pay for every service's first writes (connections, pools, caches) and look slower than the second."""
    progress(0.32, "warming the pipeline up (unmeasured traffic)")
    await run_traffic(stack.settings.client_settings(), rate=plan.rate, duration=min(WARM_S, plan.duration_s),
                      crm_share=plan.shape.crm_share, seed=plan.seed + 1, progress=lambda line: None,
                      shape=plan.shape, run_id=f"wrm{uuid.uuid4().hex[:4]}")  # fmt: skip
    await _quiet(stack, watch, DRAIN_TIMEOUT_S)


async def _phase(stack: Stack, watch: AppliedWatch, label: Literal["current", "candidate"], version: int,
                 plan: PhasePlan, progress: Progress, span: tuple[float, float]) -> PhaseReport:  # fmt: skip
    began = datetime.now(UTC)
    low, high = span
    task = asyncio.create_task(run_traffic(
        stack.settings.client_settings(), rate=plan.rate, duration=plan.duration_s, crm_share=plan.shape.crm_share,
        seed=plan.seed, progress=lambda line: None, shape=plan.shape, run_id=f"{label[:3]}{uuid.uuid4().hex[:4]}",
    ))  # fmt: skip
    start = time.monotonic()
    while not task.done():
        _check(stack)
        share = min(1.0, (time.monotonic() - start) / plan.duration_s)
        progress(low + (high - low) * 0.8 * share, f"{label} policy (version {version}): traffic")
        await asyncio.wait({task}, timeout=0.5)
    report: TrafficReport = task.result()
    progress(low + (high - low) * 0.8, f"{label} policy (version {version}): draining")
    await _quiet(stack, watch, DRAIN_TIMEOUT_S,
                 lambda: len(samples(report.changes, watch.since(began))) >= len(report.changes))  # fmt: skip
    found = samples(report.changes, watch.since(began))
    errors = report.errors + watch.failures_since(began)
    progress(high, f"{label} policy measured")
    return phase(label, version, len(report.changes), found, report.elapsed_s, errors)


async def run_phases(stack: Stack, current: Policy, candidate: Policy, plan: PhasePlan,
                     progress: Progress) -> tuple[PhaseReport, PhaseReport, list[str]]:  # fmt: skip
    """Both phases (see the module docstring); notes on what was not exact."""
    s = stack.settings
    watch = AppliedWatch(KafkaSettings(bootstrap_servers=s.stack_bootstrap, fetch_max_wait_ms=s.fetch_max_wait_ms))
    redis = Redis.from_url(s.stack_redis_url)
    store = PolicyStore(redis)
    notes: list[str] = []
    await watch.start()
    try:
        progress(0.30, "waiting for the initial sync of the seeded records")
        took = await _quiet(stack, watch, WARMUP_TIMEOUT_S)
        notes.append(f"initial sync of the seed settled in {took:.0f}s")
        await _warm(stack, watch, plan, progress)
        notes.append(f"{min(WARM_S, plan.duration_s):g}s of unmeasured traffic warmed the pipeline before the first "
                     "phase (so the first policy measured does not pay for cold clients)")
        reports = []
        for label, policy, span in (("current", current, (0.35, 0.62)), ("candidate", candidate, (0.62, 0.9))):
            version = await _put_policy(store, policy, datetime.now(UTC))
            await _gate(stack, redis, version)
            reports.append(await _phase(stack, watch, label, version, plan, progress, span))  # type: ignore[arg-type]
    finally:
        await watch.stop()
        await redis.aclose()
    return reports[0], reports[1], notes
