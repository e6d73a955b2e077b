"""A sync-time test on a stack of its own: the request, and the run from start to a stopped stack and a report.

    report = run_policy_test(request, progress)      # from the main thread (the stack's children are tied to it)

Lifecycle: a temporary data folder and free ports (never the running stack's: its ports, folder and Redis
database are not even read), the whole embedded stack started and seeded there, the two phases
(phases.py), then, in every case (a failure, Ctrl-C, SIGTERM), every child stopped, each port checked free and
the folder removed; kept (and named in the error) only when the run failed, for its logs; Ctrl-C removes it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from pydantic import Field

from infra.policytest.explain import explain
from infra.policytest.phases import PhasePlan, Progress, run_phases
from infra.policytest.report import PolicyTestReport, verdict
from infra.runner.process import port_open
from infra.runner.stack import Stack, free_port_settings
from infra.sandbox.traffic_shape import TrafficShape
from shared.catalogue import Catalogue, load_catalogue
from shared.events import Frozen, Policy

# The pipeline only: the test stores each policy in its stack's Redis and reads the bus, so neither the admin API
# nor the recorder is started (the admin API's start alone took 15-35 s on 2 busy cores).
SERVICES = "policy,crm_applier,exchange_applier,crm_capture,exchange_capture"
PARTS = 11  # ready lines of a stack start (broker, topics, redis, 2 sandboxes, seed, 5 services): its progress
PORT_FREE_TIMEOUT_S = 5.0
DEFAULT_RATE = 2.0  # changes per second when the window gives no rate
RATE_RANGE = (0.5, 20.0)  # the window's own rate is kept within this, so a busy window does not flood a laptop


class PolicyTestRequest(Frozen):
    current: Policy
    candidate: Policy
    shape: TrafficShape
    rate: float = Field(gt=0, le=200, description="Changes per second, both sides together")
    duration_s: float = Field(gt=0, le=3600, description="Seconds of traffic per phase")
    target_p99_s: float = Field(default=2.0, gt=0, description="The candidate's p99 sync time must not exceed it")
    seed: int = 7


def choose_rate(asked: float | None, shape: TrafficShape) -> float:
    """The rate asked for, else the recorded traffic's own (within RATE_RANGE), else DEFAULT_RATE."""
    if asked is not None:
        return asked
    if shape.rate_per_s is None:
        return DEFAULT_RATE
    return round(min(RATE_RANGE[1], max(RATE_RANGE[0], shape.rate_per_s)), 2)


def refusals(catalogue: Catalogue, current: Policy, candidate: Policy) -> list[str]:
    """Why the candidate's changes could not be applied (the admin API's own rules): unknown entities or fields,
    fixed fields, directions a field may not take; [] when every change could."""
    found = []
    for entity, fields in sorted(candidate.directions.items()):
        spec = catalogue.entities.get(entity)
        changed = {key: d for key, d in fields.items() if current.direction(entity, key) != d}
        if spec is None:
            found += [f"unknown entity {entity!r}"] if changed else []
            continue
        for key, direction in sorted(changed.items()):
            pair = spec.field(key)
            if pair is None:
                found.append(f"unknown field {entity}.{key}")
            elif not pair.changeable:
                found.append(f"{entity}.{key} is fixed ({pair.default_direction})")
            elif direction not in pair.allowed_directions:
                found.append(f"{entity}.{key} may not be {direction} (allowed: {', '.join(pair.allowed_directions)})")
    found += [f"unknown entity {entity!r} (conflict rule)" for entity in sorted(candidate.conflict_rules)
              if entity not in catalogue.entities and current.conflict_rule(entity) != candidate.conflict_rule(entity)]
    return found


class PolicyTestFailed(RuntimeError):
    """The test could not run to its end; the message says why and where the logs are."""


def _wait_ports_free(ports: list[int]) -> list[int]:
    """Poll until no port of the stack accepts connections (the deadline covers TIME_WAIT-free closing)."""
    deadline = time.monotonic() + PORT_FREE_TIMEOUT_S
    while True:
        held = [port for port in ports if port_open("127.0.0.1", port)]
        if not held or time.monotonic() >= deadline:
            return held
        time.sleep(0.1)


def run_policy_test(request: PolicyTestRequest, progress: Progress) -> PolicyTestReport:
    data_dir = Path(tempfile.mkdtemp(prefix="fieldsync-policytest-"))
    settings = free_port_settings(data_dir, stack_ready_timeout_s=120.0, stack_services=SERVICES)
    started = [0]

    def ready(name: str, seconds: float, detail: str) -> None:
        started[0] += 1
        progress(0.3 * min(1.0, started[0] / PARTS), f"isolated stack: {name} ready")

    stack = Stack(settings, on_ready=ready)
    ports = sorted({port for port, _ in stack.ports()} | {settings.policy_web_port})
    keep = False
    try:
        progress(0.0, "starting an isolated stack")
        stack.start()
        plan = PhasePlan(request.rate, request.duration_s, request.shape, request.seed)
        current, candidate, notes = asyncio.run(run_phases(stack, request.current, request.candidate, plan, progress))
    except Exception as exc:
        keep = True
        raise PolicyTestFailed(f"{type(exc).__name__}: {exc} (isolated stack's logs kept in {settings.log_dir})") \
            from exc
    finally:
        progress(0.9, "stopping the isolated stack")
        stack.stop()
        held = _wait_ports_free(ports)
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    if held:
        notes.append(f"ports still answering after the stop: {held}")
    progress(1.0, "done")
    return PolicyTestReport(
        rate=request.rate, duration_s=request.duration_s, seed=request.seed, shape=request.shape,
        current=current, candidate=candidate,
        explanations=explain(load_catalogue(), request.current, request.candidate, request.shape),
        verdict=verdict(current, candidate, request.target_p99_s), notes=notes, ports=ports, data_dir=str(data_dir),
    )  # fmt: skip
