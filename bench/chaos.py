"""Chaos for the convergence benchmark: sandbox faults through their knobs, and services SIGKILLed and restarted.

Faults: `PUT /_sandbox/faults` on both sandboxes (infra/sandbox/faults.py) makes a share of their requests fail:
dropped connections, 503 and 429 (both with Retry-After), one third each. Kills: at planned moments one of the
services that consume or produce the bus is SIGKILLed with its whole process group (ManagedProcess.kill(), a
crash: nothing committed, nothing cleaned up) and started again at once, its log continued with a line that
says so. The kill and the restart happen in one step on the event loop, so Stack.failed() never sees the gap.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from infra.runner.stack import Stack

# The admin API stays up: the benchmark reads the conflicts and runs verify through it.
KILLABLE = ("crm_capture", "exchange_capture", "policy", "crm_applier", "exchange_applier")
RETRY_AFTER_S = 1


def fault_knobs(ratio: float) -> dict[str, float | int]:
    """Knobs that fail `ratio` of the requests: the middleware checks drop, 503 then 429, each with the same
    chance p, so 1 - (1 - p)^3 = ratio."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError("the fault ratio must be within 0..1 (1 excluded)")
    each = 1.0 - (1.0 - ratio) ** (1 / 3)
    return {"drop_ratio": each, "unavailable_ratio": each, "throttle_ratio": each, "retry_after_s": RETRY_AFTER_S}


async def set_faults(stack: Stack, ratio: float) -> None:
    """The same knobs on both sandboxes (0: every fault off)."""
    knobs = fault_knobs(ratio) if ratio else {}
    async with httpx.AsyncClient(timeout=10.0) as http:
        for root in (stack.settings.crm_root, stack.settings.exchange_root):
            response = await http.put(f"{root}/_sandbox/faults", json=knobs)
            response.raise_for_status()


def kill_plan(count: int, duration_s: float, rng: random.Random) -> list[tuple[float, str]]:
    """`count` (seconds into the traffic, service) at random moments; every service is killed before any is
    killed twice, in a random order."""
    victims: list[str] = []
    while len(victims) < count:
        round_ = list(KILLABLE)
        rng.shuffle(round_)
        victims += round_
    moments = sorted(rng.uniform(0.05 * duration_s, 0.95 * duration_s) for _ in range(count))
    return list(zip(moments, victims[:count], strict=True))


@dataclass(frozen=True)
class Kill:
    service: str
    at_s: float  # seconds into the traffic
    pid: int | None  # the process killed
    restarted_pid: int | None


def kill_and_restart(stack: Stack, service: str, at_s: float) -> Kill:
    """SIGKILL the service's process group and start it again (its log goes on)."""
    proc = next(p for p in stack.processes if p.name == service)
    pid = proc.pid
    proc.kill()
    with proc.log_path.open("a") as log:
        log.write(f"=== bench/chaos: {service} (pid {pid}) SIGKILLed at {datetime.now(UTC).isoformat()}, "
                  "started again ===\n")
    proc.start()
    return Kill(service, at_s, pid, proc.pid)


async def run_kills(stack: Stack, plan: list[tuple[float, str]], done: list[Kill]) -> None:
    """Carry out the plan from now on, appending each kill to `done` as it happens; cancelling stops it."""
    began = time.monotonic()
    for at_s, service in plan:
        await asyncio.sleep(max(0.0, began + at_s - time.monotonic()))
        done.append(kill_and_restart(stack, service, at_s))
        print(f"  chaos {at_s:5.1f}s: {service} SIGKILLed and restarted ({len(done)}/{len(plan)})", flush=True)


def survived(stack: Stack, kills: list[Kill]) -> int:
    """Kills after which the service came back and is still running."""
    alive = {p.name: p.pid for p in stack.processes if p.alive()}
    return sum(1 for k in kills if k.service in alive)
