"""Pipeline benchmark: the sandbox traffic generator through the whole embedded stack, measured end to end.

    .venv/bin/python bench/pipeline.py                 # 200 changes/s for 60 s, 20 users, 1 s polls
    .venv/bin/python bench/pipeline.py --quick         # 15 s
    .venv/bin/python bench/pipeline.py --rate 50 --duration 30 --crm-share 1.0

Prints sustained throughput (changes applied per second over the steady window), end-to-end latency
p50/p95/p99 with its hops (capture, decide, apply), errors, dead letters and each service's peak memory,
and whether the issue's first target is met; writes the same as JSON under bench/results/.

Lifecycle: a Stack of its own (temporary data folder, free ports, so a running `make run` is never
touched) is started and seeded with `--users` users, the scenario runs (bench/scenario.py), memory is
sampled from start to end, and the stack is stopped in every case. The data folder (with every
child's log) is removed after a clean run and kept, with its path printed, after a failure or when a change was
not applied, a delta failed, an event was dead-lettered or the traffic had errors.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shlex
import sys
from pathlib import Path

# Run as a script (`python bench/pipeline.py`): the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import RESULTS, ROOT, OwnStack
from bench.processes import ProcessSampler
from bench.report import render, write_json
from bench.scenario import OWN, Options, run_scenario


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/pipeline.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="changes per second offered (default 200)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    parser.add_argument("--quick", action="store_true", help="15 s of traffic instead of --duration")
    parser.add_argument("--users", type=int, default=20, help="seeded users, one mailbox each (default 20)")
    parser.add_argument("--crm-share", type=float, default=0.5, help="share of changes made in CRM (default 0.5)")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="capture poll interval, s (default 1)")
    parser.add_argument("--keep-data", action="store_true", help="keep the stack's data folder, logs and events.jsonl")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.users < 1 or not 0 <= args.crm_share <= 1 \
            or args.poll_interval <= 0:
        parser.error("--rate, --duration, --poll-interval must be positive, --users >= 1, --crm-share within 0..1")
    if args.quick:
        args.duration = 15.0
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    options = Options(rate=args.rate, duration=args.duration, users=args.users, crm_share=args.crm_share,
                      poll_interval=args.poll_interval)
    command = shlex.join(["bench/pipeline.py", *argv])
    with OwnStack("bench", args.users, args.poll_interval, keep=args.keep_data) as own:
        stack = own.stack
        sampler = ProcessSampler({p.name: p.pid for p in stack.processes if p.pid is not None}).start()
        try:
            print(f"running {args.rate:g} changes/s for {args.duration:g}s, crm share {args.crm_share:g}, "
                  f"poll interval {args.poll_interval:g}s", flush=True)
            dump = own.data_dir / "events.jsonl" if args.keep_data else None
            result = asyncio.run(run_scenario(stack, options, command, sampler, dump))
        finally:
            sampler.stop()
        result.memory_mib = {**sampler.peaks_mib(),
                             OWN: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        print(render(result), flush=True)
        print(f"results written to {write_json(result, RESULTS).relative_to(ROOT)}")
        # A change not applied, a failed delta or a dead letter is a finding: its logs stay for the post-mortem.
        own.ok = not (result.measurement.not_applied or result.failed_deltas or result.dead_letters
                      or result.traffic_errors)  # fmt: skip
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
