"""What the change window costs the decision path, and how long a preview of a full window takes.

Three figures, on bench/decide.py's workload (a sales organisation, contact changes from both sides, security on):
- CPU per change of the pure core (decide, reconcile, plan) alone, and with the window's part of the path added
  (the security answers recorded as they are asked, recorded_security.Recording, and the Recorded handed over);
  and the writer's encoding of an entry, off the path (window_writer.py);
- with `--redis-url`: the commit transaction per change, and the window's share of its batched write (LPUSH +
  LTRIM of 250 entries), against a real redis-server, and the Redis memory per entry;
- the preview (preview.py) of a window of `--changes` entries, current policy against a candidate.

Run: `python -m bench.window [--changes 5000] [--seconds 3] [--redis-url redis://127.0.0.1:6379/15] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.decide import NOW, Work, organisation, workload
from services.policy.agreed import AgreedValues
from services.policy.decide import decide
from services.policy.plan import plan
from services.policy.preview import preview
from services.policy.reconcile import reconcile
from services.policy.recorded_security import Recording
from services.policy.security import Security
from services.policy.security_model import build
from services.policy.window_writer import Recorded, encoded
from shared.catalogue import Catalogue, load_catalogue
from shared.change_window import ChangeWindow, WindowEntry
from shared.events import Policy


def one_pass(work: list[Work], catalogue: Catalogue, policy: Policy, security: Security, record: bool
             ) -> list[Recorded]:  # fmt: skip
    """Decide every change as the handler does; with `record`, keep what the window writer is handed."""
    kept = []
    for change, facts, states in work:
        asked = Recording(security) if record else security
        decision = decide(change, catalogue.entity(change.entity), policy, facts, NOW, asked)
        reconciled = reconcile(change, decision, states, "latest")
        plan(change, reconciled.decision, policy.version, NOW)
        if isinstance(asked, Recording):
            kept.append(Recorded(change, facts, states, asked.facts(), policy.version, NOW))
    return kept


def cpu_per_change(work: list[Work], catalogue: Catalogue, policy: Policy, security: Security, seconds: float
                   ) -> dict[str, float]:  # fmt: skip
    """Microseconds of CPU per change: the decision path without and with the window's part (alternating until
    each ran `seconds`), and the writer's encoding of one entry (off the path, in its batches)."""
    totals = {"decide": [0, 0.0], "decide+record": [0, 0.0], "encode": [0, 0.0]}
    recorded = one_pass(work, catalogue, policy, security, True)
    while min(t[1] for t in totals.values()) < seconds:
        for mode in totals:
            started = time.process_time()
            if mode == "encode":
                for one in recorded:
                    encoded(one)
            else:
                one_pass(work, catalogue, policy, security, mode != "decide")
            totals[mode][0] += len(work)
            totals[mode][1] += time.process_time() - started
    return {mode: t[1] / t[0] * 1e6 for mode, t in totals.items()}


async def redis_per_change(url: str, work: list[Work], recorded: list[Recorded], batch: int) -> dict[str, float]:
    """Wall microseconds per change: the commit transaction (one pair's merge state), and the window's share of a
    batched write of `batch` entries; and the Redis memory the entries take."""
    redis = Redis.from_url(url)
    agreed, window = AgreedValues(redis), ChangeWindow(redis, max_entries=len(recorded))
    try:
        await redis.flushdb()
        started = time.perf_counter()
        for _change, _facts, states in work:
            async with redis.pipeline(transaction=True) as pipe:
                agreed.queue(pipe, {pair: dict(fields) for pair, fields in states.items()})
                await pipe.execute()
        commit = time.perf_counter() - started
        raws = [encoded(one) for one in recorded]
        started = time.perf_counter()
        for at in range(0, len(raws), batch):
            await window.push(raws[at:at + batch])
        pushed = time.perf_counter() - started
        memory = await redis.memory_usage("fs:window:changes") or 0
        await redis.flushdb()
    finally:
        await redis.aclose()
    return {"commit": commit / len(work) * 1e6, "window_push": pushed / len(raws) * 1e6,
            "bytes_per_entry": memory / len(raws)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--redis-url", help="a redis-server to time the commit transaction against (flushed!)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rng = random.Random(8)
    catalogue = load_catalogue()
    policy = Policy(version=1, updated_at=NOW, updated_by="bench", directions=catalogue.default_directions())
    tables, users = organisation(args.users, rng)
    security = Security(build(tables, 1))
    work = workload(catalogue, users, args.changes, rng)
    recorded = one_pass(work, catalogue, policy, security, record=True)  # warm, and the window to preview
    cpu = cpu_per_change(work, catalogue, policy, security, args.seconds)
    result: dict[str, Any] = {"changes": args.changes, "cpu_us": cpu}
    print(f"CPU per change: {cpu['decide']:.0f} us decide, {cpu['decide+record']:.0f} us with the window's part "
          f"(+{cpu['decide+record'] - cpu['decide']:.0f} us); the writer encodes an entry in {cpu['encode']:.0f} us, "
          "off the path")  # fmt: skip
    if args.redis_url:
        trips = asyncio.run(redis_per_change(args.redis_url, work[:1000], recorded[:1000], 250))
        result["redis_us"] = trips
        print(f"Redis per change: the commit transaction {trips['commit']:.0f} us (unchanged: the window is not in "
              f"it); the window's share of a batch of 250, {trips['window_push']:.0f} us; "
              f"{trips['bytes_per_entry'] / 1000:.1f} KB of Redis per entry")  # fmt: skip
    entries = [WindowEntry.model_validate_json(encoded(one)) for one in recorded]
    contact = {**policy.directions["contact"], "jobtitle": "none"}
    candidate = policy.model_copy(update={"directions": {**policy.directions, "contact": contact}})
    started = time.perf_counter()
    report = preview(entries, catalogue, policy, candidate, security)
    result["preview_s"] = time.perf_counter() - started
    print(f"preview of {len(entries)} recorded changes under two policies: {result['preview_s']:.2f} s "
          f"({report.differing} differ)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
