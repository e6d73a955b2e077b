"""The `fieldsync` command: `up`, `sandbox`, `policy`, `settings`, `conflicts`, `verify`, `status`, `explain`,
`deadletter`, `filters`.

    fieldsync up                                   the embedded stack in the foreground (make run)
    fieldsync sandbox seed [--users N]             users, mailboxes and records in the sandboxes
    fieldsync sandbox traffic --rate R --duration S [--crm-share 0.5]
    fieldsync sandbox serve-crm | serve-exchange   one sandbox alone
    fieldsync policy ...                           the sync policy, through the admin API
    fieldsync policy test policy.json [--rate R] [--duration S] [--p99 2s]   sync times, current vs candidate
    fieldsync settings show | set KEY VALUE        the organisation's sync settings, through the admin API
    fieldsync conflicts [--entity E] [--crm-id ID] [--mailbox M] [--since ISO] [--limit N]
    fieldsync verify [--entity E] [--mailbox M]    do both sides agree? through the admin API (exit 0/1/2)
    fieldsync status [--watch]                     mailbox health: last sync, items, current error and since when
    fieldsync explain ENTITY CRM_ID [--mailbox M] [--field F]   why a record's field did (not) sync
    fieldsync explain ENTITY --exchange-id X --mailbox M        the same for a mailbox item
    fieldsync deadletter list|show|replay|discard|audit   the kept dead letters (admin token)
    fieldsync filters show [--mailbox M]           each user's sync filters, parsed, and whether they apply
    fieldsync filters preview --mailbox M --entity E FILE|--fetchxml X   what a filter would sync (admin token)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from services.cli import (
    conflicts,
    deadletter,
    explain,
    filters,
    policy,
    policy_test,
    sandbox,
    settings,
    stack,
    status,
    verify,
)

app = typer.Typer(name="fieldsync", help="Field-level sync between Dynamics 365 CE and Exchange.", no_args_is_help=True)
app.command("up")(stack.up)
app.add_typer(sandbox.app, name="sandbox", help="Seed the sandboxes, make traffic, serve one sandbox.")
app.add_typer(policy.app, name="policy", help="Read and change the sync policy through the admin API.")
policy.app.command("test")(policy_test.test)
app.add_typer(settings.app, name="settings", help="Read and change the organisation's sync settings (admin API).")
app.command("conflicts")(conflicts.show)
app.command("verify")(verify.verify)
app.command("status")(status.status)
app.command("explain")(explain.explain)
app.add_typer(deadletter.app, name="deadletter", help="List, show, replay and discard dead letters (admin token).")
app.add_typer(filters.app, name="filters", help="Show users' sync filters; preview what a filter would sync.")


def _print_version(requested: bool) -> None:
    if requested:
        try:
            typer.echo(f"fieldsync {version('fieldsync')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("fieldsync (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Field-level sync between Dynamics 365 CE and Exchange."""


if __name__ == "__main__":
    app()
