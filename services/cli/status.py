"""`fieldsync status [--watch]`: mailbox health through the admin API, once or refreshed until Ctrl-C."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from services.cli import status_view
from services.cli.policy import DEFAULT_URL, Token, Url, _run

CLEAR = "\033[H\033[2J"  # cursor home, clear screen: each refresh replaces the last


def status(
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C")] = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes with --watch")] = 2.0,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Per mailbox and folder: last successful sync, items synced, the current error and since when."""
    while True:
        try:
            mailboxes = _run(url, token, lambda api: api.call("GET", "/api/v1/mailboxes"))
        except typer.Exit as exc:  # the error is on stderr; --watch keeps trying while the API is away
            if not watch or exc.exit_code != 1:
                raise
            time.sleep(interval)
            continue
        table = status_view.render_status(mailboxes, datetime.now(UTC))
        if not watch:
            typer.echo(table)
            return
        typer.echo(f"{CLEAR}fieldsync status  {datetime.now(UTC):%H:%M:%S} UTC  (every {interval:g}s, Ctrl-C stops)")
        typer.echo(table)
        try:
            time.sleep(interval)  # the refresh period of a terminal display, not a wait for an effect
        except KeyboardInterrupt:
            return
