"""Convergence benchmark: two-sided edits under sandbox faults and service crashes must end equal, lost-free, once.

    .venv/bin/python bench/convergence.py                  # 50 changes/s for 60 s, 40% two-sided, 20% faults, 12 kills
    .venv/bin/python bench/convergence.py --quick          # 20 s of traffic, 10 kills
    .venv/bin/python bench/convergence.py --rule crm_wins --two-sided-share 0.6 --fault-ratio 0.3

Lifecycle: a Stack of its own (bench/harness.py: temporary data folder, free ports) is started and seeded; the
initial sync is awaited (bench/scenario.py), `--rule` is set on every entity through the admin API, and what
both sides hold is read (bench/inventory.py). Then the sandbox faults go on (bench/chaos.py), the traffic
generator runs with `--two-sided-share` of its changes as paired edits of the linked pairs, while `--kills`
services are SIGKILLed and restarted at random moments; the faults go off, the drain waits until nothing is
applied for a quiet period and no consumer group lags (bench/lag.py), and a verify job compares both sides.
Both sides are read again, and the accounting (bench/accounting.py) counts lost changes and duplicates, the
conflict log the conflicts. Exit 0 only when no field diverges, no change is lost and nothing is duplicated;
otherwise the stack's data folder and logs are kept (with events.jsonl: every DeltaApplied, change, conflict).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.accounting import conflict_tally, duplicates, outcomes
from bench.admin import AdminApi
from bench.chaos import Kill, kill_plan, run_kills, set_faults, survived
from bench.convergence_report import ConvergenceResult, render, write_json
from bench.harness import RESULTS, ROOT, OwnStack
from bench.inventory import linked_pairs, read_inventory
from bench.lag import settle
from bench.measure import echo_conflicts, match, measure
from bench.observer import BusObserver, observing, stop_observing
from bench.scenario import Options, drive, steady_window, warm_up, write_dump
from infra.sandbox.seed import address_of, user_names
from shared import topics
from shared.events import CONFLICT_RULES
from shared.exchange.fields import stored_as
from shared.settings import KafkaSettings

# Kept for the post-mortem (events.jsonl in the kept data folder): what the captures saw and what was decided.
KEPT = tuple(t.full_name for t in (topics.CRM_CHANGES, topics.EXCHANGE_CHANGES, topics.DELTAS_CRM,
                                   topics.DELTAS_EXCHANGE, topics.DECISIONS))
TRAFFIC_RETRIES = 5  # how often the Exchange half of the traffic sends a faulted update again (CRM's client: 5)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/convergence.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="changes per second offered (default 50)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    parser.add_argument("--two-sided-share", type=float, default=0.4,
                        help="share of changes that are half of a paired edit (default 0.4)")
    parser.add_argument("--fault-ratio", type=float, default=0.2, help="share of sandbox requests failed (0.2)")
    parser.add_argument("--kills", type=int, default=12, help="services SIGKILLed and restarted (default 12)")
    parser.add_argument("--rule", choices=CONFLICT_RULES, default="latest", help="conflict rule of every entity")
    parser.add_argument("--quick", action="store_true", help="20 s of traffic and 10 kills")
    parser.add_argument("--users", type=int, default=20, help="seeded users, one mailbox each (default 20)")
    parser.add_argument("--drain-quiet", type=float, default=35.0,
                        help="seconds without a DeltaApplied that end the drain (default 35: more than the "
                             "services' 30 s backoff cap)")
    parser.add_argument("--drain-timeout", type=float, default=240.0, help="the drain's deadline, s (default 240)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the traffic and the kills")
    parser.add_argument("--keep-data", action="store_true", help="keep the stack's data folder and logs")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.users < 1 or args.kills < 0 \
            or not 0 <= args.two_sided_share <= 1 or not 0 <= args.fault_ratio < 1:
        parser.error("--rate, --duration positive, --users >= 1, --kills >= 0, --two-sided-share within 0..1, "
                     "--fault-ratio within 0..1 (1 excluded)")
    if args.quick:
        args.duration, args.kills = 20.0, min(args.kills, 10)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    return args


async def run(own: OwnStack, args: argparse.Namespace, command: str) -> ConvergenceResult:
    stack = own.stack
    options = Options(rate=args.rate, duration=args.duration, users=args.users, crm_share=0.5, poll_interval=1.0,
                      seed=args.seed)
    mailboxes = [address_of(name) for name in user_names(args.users)]
    observer = BusObserver(KafkaSettings(bootstrap_servers=stack.settings.stack_bootstrap,
                                         fetch_max_wait_ms=stack.settings.fetch_max_wait_ms), keep=KEPT)
    watching = await observing(observer)
    kills: list[Kill] = []
    try:
        async with AdminApi(stack.settings.admin_root) as admin:
            notes = [await warm_up(stack, observer, options)]
            print(f"  {notes[0]}", flush=True)
            version = await admin.set_rule_everywhere(args.rule)
            await asyncio.sleep(2.0)  # the policy workers switch within a second (doorbell); conflicts name the rule
            baseline = await read_inventory(stack, mailboxes)
            pairs = linked_pairs(baseline)
            print(f"  rule {args.rule} on every entity (policy version {version}); {len(pairs)} linked pairs; "
                  f"faults {args.fault_ratio:g}, {args.kills} kills, two-sided share {args.two_sided_share:g}",
                  flush=True)
            began = datetime.now(UTC)
            plan = kill_plan(args.kills, args.duration, random.Random(args.seed))
            chaos: list[asyncio.Task[None]] = []

            async def unleash() -> None:
                """Once the generator listed both sides (through exchangelib, which must not meet the faults)."""
                await set_faults(stack, args.fault_ratio)
                chaos.append(asyncio.create_task(run_kills(stack, plan, kills)))

            try:
                report = await drive(stack, observer, options, lambda: f"kills {len(kills)}", pairs=pairs,
                                     two_sided_share=args.two_sided_share, retries=TRAFFIC_RETRIES,
                                     opened=unleash)
                await asyncio.gather(*chaos)  # the plan ends before the traffic does
            finally:
                for job in chaos:
                    job.cancel()
                await set_faults(stack, 0.0)
            settled, drained = await settle(stack, observer, args.drain_quiet, args.drain_timeout)
            notes.append(drained)
            print(f"  {drained}", flush=True)
            verified = await admin.verify(timeout_s=180.0)
            final = await read_inventory(stack, mailboxes)
            conflicts = await admin.conflicts(since=began)
    finally:
        await stop_observing(observer, watching)
    write_dump(own.data_dir / "events.jsonl", observer, report, conflicts)
    ended = outcomes(report.changes, final, conflicts, stored_as)
    doubles = duplicates(baseline, final)
    deliveries = match(report.changes, observer.applied, conflicts)
    echoes = echo_conflicts(report.changes, conflicts)
    return ConvergenceResult(
        command=command,
        options={k: v for k, v in vars(args).items() if k not in ("keep_data", "quick")},
        changes=len(report.changes),
        two_sided=sum(1 for c in report.changes if c.pair is not None),
        traffic_errors=len(report.errors),
        conflicts=conflict_tally(conflicts),
        echo_conflicts=len(echoes),
        divergent=len(verified["differences"]),
        missing=len(verified["missing"]),
        lost=len(ended.lost),
        outcomes={"final on both sides": ended.final, "superseded by a later change": ended.superseded,
                  "lost a recorded conflict": ended.conflict},
        duplicates=doubles.total,
        kills=len(kills),
        kills_survived=survived(stack, kills),
        settled=settled,
        measurement=measure(deliveries, observer.applied, steady_window(report, options)),
        pairs_checked=int(verified["pairs_checked"]),
        dead_letters=observer.dead_letters,
        failed_deltas=sum(1 for e in observer.applied if e.result == "failed" and e.applied_at >= began),
        examples={"divergent": [str(d) for d in verified["differences"][:10]],
                  "missing": [str(m) for m in verified["missing"][:10]],
                  "lost": [item.describe() for item in ended.lost[:10]], "duplicate": list(doubles.examples),
                  "traffic error": report.errors[:5],
                  "conflict over an echo": [f"{c.entity} {c.crm_id} {c.mailbox} {c.field}: crm {c.crm_value!r} at "
                                            f"{c.crm_modified_at:%H:%M:%S}, exchange {c.exchange_value!r} at "
                                            f"{c.exchange_modified_at:%H:%M:%S}, {c.winner} won at "
                                            f"{c.decided_at:%H:%M:%S.%f}" for c in echoes[:10]]},
        kills_by_service=dict(Counter(k.service for k in kills)),
        kill_log=[f"{k.at_s:5.1f}s {k.service} pid {k.pid} -> {k.restarted_pid}" for k in kills],
        notes=notes,
    )


def main(argv: list[str]) -> int:
    args = parse(argv)
    command = shlex.join(["bench/convergence.py", *argv])
    with OwnStack("convergence", args.users, poll_interval=1.0, keep=args.keep_data) as own:
        result = asyncio.run(run(own, args, command))
        print(render(result), flush=True)
        print(f"results written to {write_json(result, RESULTS).relative_to(ROOT)}")
        # A divergence, a lost change or a duplicate is a finding: the data folder and logs stay for the post-mortem.
        own.ok = result.converged
    return 0 if result.converged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
