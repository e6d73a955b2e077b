"""`fieldsync verify`: start a verify job in the admin API, show its progress, print what differs.

Exit status: 0 consistent, 1 differences or missing items, 2 an error (one line on stderr).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer

from services.cli import verify_view
from services.cli.policy import DEFAULT_URL, AdminClient, ApiError, Token, Url

POLL_S = 0.5  # how often the job's progress is asked for


async def follow(api: AdminClient, job: dict[str, Any], timeout_s: float, show: Callable[[str], None]) -> Any:
    """Poll the job until it is no longer running (or the deadline passes), showing each new progress line."""
    deadline = time.monotonic() + timeout_s
    shown = None
    while True:
        line = verify_view.progress(job)
        if line != shown:
            show(line)
            shown = line
        if job["state"] != "running":
            return job
        if time.monotonic() > deadline:
            raise ApiError(f"verify job {job['job_id']} still running after {timeout_s:g} s "
                           f"(GET /api/v1/verify/{job['job_id']} shows it)")
        await asyncio.sleep(POLL_S)
        job = await api.call("GET", f"/api/v1/verify/{job['job_id']}")


def _progress_writer() -> tuple[Callable[[str], None], Callable[[], None]]:
    """On a terminal one line rewritten in place; otherwise (logs, pipes) one line per change."""
    if sys.stderr.isatty():
        return (lambda line: typer.echo(f"\r{line}\033[K", err=True, nl=False)), (lambda: typer.echo("", err=True))
    return (lambda line: typer.echo(line, err=True)), (lambda: None)


def verify(
    entity: Annotated[str | None, typer.Option(help="Only this entity")] = None,
    mailbox: Annotated[str | None, typer.Option(help="Only pairs in this mailbox")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the finished job with its report as JSON")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Give up waiting after this many seconds")] = 3600,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Compare both sides of every linked pair: exit 0 consistent, 1 differences, 2 error."""
    if not token:
        typer.echo("error: no API token: pass --token or set FIELDSYNC_API_TOKEN", err=True)
        raise typer.Exit(2)
    show, finish = _progress_writer()

    async def session() -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=15) as http:
            api = AdminClient(http, url)
            body = {key: value for key, value in (("entity", entity), ("mailbox", mailbox)) if value is not None}
            started = await api.call("POST", "/api/v1/verify", json=body)
            try:
                return await follow(api, started, timeout, show)
            finally:
                finish()

    try:
        job = asyncio.run(session())
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if job["state"] != "done":
        typer.echo(f"error: verify job {job['job_id']} failed: {job.get('reason')}", err=True)
        raise typer.Exit(2)
    report = job["report"]
    typer.echo(json.dumps(job, indent=2, sort_keys=True) if as_json else verify_view.render(report))
    raise typer.Exit(0 if report["consistent"] else 1)
