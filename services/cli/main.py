"""The `fieldsync` command: `up` (the embedded stack), `sandbox` (seed, traffic, serve), `policy`."""

from __future__ import annotations

import importlib.util

import typer

from services.cli import sandbox, stack

app = typer.Typer(name="fieldsync", help="Field-level sync between Dynamics 365 CE and Exchange.", no_args_is_help=True)
app.command("up")(stack.up)
app.add_typer(sandbox.app, name="sandbox", help="Seed the sandboxes, make traffic, serve one sandbox.")

# The policy commands are written alongside; until their module lands the CLI works without them.
if importlib.util.find_spec("services.cli.policy") is not None:
    from services.cli import policy

    app.add_typer(policy.app, name="policy", help="Read and change the sync policy through the admin API.")


if __name__ == "__main__":
    app()
