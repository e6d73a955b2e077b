"""`fieldsync sandbox ...`: seed the sandboxes, change records at a rate, serve one sandbox in the foreground."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from infra.sandbox.seed import SandboxClientSettings, seed, user_names
from infra.sandbox.traffic import run_traffic

app = typer.Typer(no_args_is_help=True)


@app.command("seed")
def seed_command(
    users: Annotated[int | None, typer.Option(min=1, help="Number of users (default: alice, bob, carol).")] = None,
) -> None:
    """Create the business unit, users with mailboxes, and records they own (idempotent)."""
    asyncio.run(seed(SandboxClientSettings(), user_names(users), progress=typer.echo))


@app.command("traffic")
def traffic_command(
    rate: Annotated[float, typer.Option(min=0.01, help="Changes per second.")] = 5.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Seconds to run.")] = 10.0,
    crm_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of changes made in CRM.")] = 0.5,
    mailbox: Annotated[list[str] | None, typer.Option(help="Mailbox to change (repeat); default: all.")] = None,
    seed_value: Annotated[int | None, typer.Option("--seed", help="Random seed, for a repeatable run.")] = None,
) -> None:
    """Change records on both sides at a steady rate through the Web API and EWS (exit 1 if any failed)."""
    report = asyncio.run(
        run_traffic(
            SandboxClientSettings(), rate, duration, crm_share, mailboxes=mailbox or None, seed=seed_value,
            progress=typer.echo,
        )
    )
    if report.errors:
        for error in report.errors[:10]:
            typer.echo(f"  error: {error}", err=True)
        raise typer.Exit(1)


@app.command("serve-crm")
def serve_crm_command() -> None:
    """Serve the sandbox Web API alone, in the foreground (settings from FIELDSYNC_* variables)."""
    from infra.sandbox.crm.__main__ import main

    main()


@app.command("serve-exchange")
def serve_exchange_command() -> None:
    """Serve the sandbox EWS alone, in the foreground (settings from FIELDSYNC_* variables)."""
    from infra.sandbox.exchange.__main__ import main

    main()
