"""`fieldsync policy test policy.json`: how fast the file's policy would sync, beside the current one, measured.

Reads the current policy from the running admin API and the change window from the running stack's Redis (read
only: LRANGE), builds the candidate (the current policy with the file's directions, conflict rules and settings),
then runs the sync-time test in this process on a stack of its own (infra.policytest.run: its own ports and
data folder, stopped whole at the end, on an error and on Ctrl-C or SIGTERM too). A progress bar on stderr
(rewritten in place on a terminal, one line per stage otherwise); the report on stdout.

Exit status: 0 the candidate meets --p99, 1 it does not (or nothing synced to measure), 2 the test could not run.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.policytest.run import PolicyTestFailed, PolicyTestRequest, choose_rate, refusals, run_policy_test
from infra.sandbox.traffic_shape import DEFAULT, TrafficShape, shape_or_default
from services.cli import policy_test_view
from services.cli.policy import DEFAULT_URL, Token, Url, _read_document, _run
from services.cli.stack import _Shutdown
from shared.catalogue import load_catalogue
from shared.change_window import ChangeWindow
from shared.events import Policy

DEFAULT_REDIS = "redis://127.0.0.1:16379/0"


def parse_duration(text: str) -> float:
    """"2s", "1500ms", "2" (seconds) -> seconds; ValueError otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", text)
    if found is None or float(found.group(1)) <= 0:
        raise ValueError(f"not a positive duration: {text!r} (e.g. 2s, 1500ms)")
    return float(found.group(1)) / (1000.0 if found.group(2) == "ms" else 1.0)


def candidate_policy(current: Policy, directions: dict[str, dict[str, str]], rules: dict[str, str],
                     settings: dict[str, Any]) -> Policy:  # fmt: skip
    """The current policy with the file's directions, rules and settings over it (the isolated API checks them)."""
    merged: dict[str, dict[str, Any]] = {entity: dict(fields) for entity, fields in current.directions.items()}
    for entity, fields in directions.items():
        merged.setdefault(entity, {}).update(fields)
    document = current.model_dump(mode="json")
    document.update(directions=merged, conflict_rules={**current.conflict_rules, **rules},
                    settings={**document["settings"], **settings})  # fmt: skip
    return Policy.model_validate(document)


async def read_shape(redis_url: str) -> tuple[TrafficShape, str | None]:
    """The running stack's change window as a traffic shape (read only); DEFAULT and why when it cannot be read."""
    redis = Redis.from_url(redis_url)
    try:
        return shape_or_default(await ChangeWindow(redis).read(datetime.now(UTC))), None
    except (RedisError, OSError) as exc:
        return DEFAULT, f"the change window at {redis_url} could not be read ({type(exc).__name__}): default shape"
    finally:
        await redis.aclose()


def _progress_writer() -> tuple[Callable[[float, str], None], Callable[[], None]]:
    """A bar rewritten in place on a terminal; otherwise (logs, pipes) one line per stage."""
    if sys.stderr.isatty():
        return (lambda share, stage: typer.echo(f"\r{policy_test_view.bar(share, stage)}\033[K", err=True, nl=False),
                lambda: typer.echo("", err=True))  # fmt: skip
    shown: list[str] = []

    def line(share: float, stage: str) -> None:
        if not shown or shown[-1] != stage:
            shown.append(stage)
            typer.echo(policy_test_view.bar(share, stage), err=True)

    return line, lambda: None


def test(
    file: Annotated[Path, typer.Argument(help="The candidate: a document written by `policy export`, edited")],
    rate: Annotated[float | None, typer.Option(min=0.1, max=200, help="Changes per second (default: the window's)")]
    = None,
    duration: Annotated[float, typer.Option(min=1, max=3600, help="Seconds of traffic per policy")] = 20.0,
    p99: Annotated[str, typer.Option(help="Target p99 sync time for the candidate (2s, 1500ms)")] = "2s",
    seed: Annotated[int, typer.Option(help="Seed of the traffic (the same for both policies)")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    redis_url: Annotated[str, typer.Option("--redis-url", envvar="FIELDSYNC_REDIS_URL",
                                           help="The running stack's Redis, read only")] = DEFAULT_REDIS,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Measure sync times of the current policy and the file's side by side on an isolated stack (admins)."""
    try:
        target = parse_duration(p99)
    except ValueError as exc:
        typer.echo(f"error: --p99: {exc}", err=True)
        raise typer.Exit(2) from None
    _version, directions, rules, settings = _read_document(file)
    try:
        current = Policy.model_validate(_run(url, token, lambda api: api.call("GET", "/api/v1/policy")))
    except typer.Exit:
        raise typer.Exit(2) from None  # the reason is on stderr already: the test could not run
    try:
        candidate = candidate_policy(current, directions, rules, settings)
    except ValidationError as exc:
        typer.echo(f"error: {file} is not a policy: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None
    refused = refusals(load_catalogue(), current, candidate)
    if refused:
        typer.echo(f"error: {file} cannot be applied: {'; '.join(refused)}", err=True)
        raise typer.Exit(2)
    shape, why = asyncio.run(read_shape(redis_url))
    request = PolicyTestRequest(current=current, candidate=candidate,
                                shape=shape, rate=choose_rate(rate, shape), duration_s=duration, target_p99_s=target,
                                seed=seed)  # fmt: skip
    show, finish = _progress_writer()
    shutdown = _Shutdown()
    previous = {sig: signal.signal(sig, shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = run_policy_test(request, show)
    except PolicyTestFailed as exc:
        finish()
        typer.echo(f"error: the sync-time test failed: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        finish()
        typer.echo(f"fieldsync: {shutdown.signal_name or 'SIGINT'} received: the isolated stack is stopped", err=True)
        raise typer.Exit(130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    finish()
    if why is not None:
        report = report.model_copy(update={"notes": [why, *report.notes]})
    document = report.model_dump(mode="json")
    typer.echo(json.dumps(document, indent=2, sort_keys=True) if as_json else policy_test_view.render(document))
    raise typer.Exit(0 if report.verdict.outcome == "pass" else 1)
