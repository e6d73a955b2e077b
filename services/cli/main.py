"""The `fieldsync` command: `up` (the embedded stack), `sandbox` (seed, traffic, serve), `policy`."""

from __future__ import annotations

import typer

from services.cli import policy, sandbox, stack

app = typer.Typer(name="fieldsync", help="Field-level sync between Dynamics 365 CE and Exchange.", no_args_is_help=True)
app.command("up")(stack.up)
app.add_typer(sandbox.app, name="sandbox", help="Seed the sandboxes, make traffic, serve one sandbox.")
app.add_typer(policy.app, name="policy", help="Read and change the sync policy through the admin API.")


if __name__ == "__main__":
    app()
