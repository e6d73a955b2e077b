"""`fieldsync deadletter list|show|replay|discard|audit`: the kept dead letters, through the admin API (admins only)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from services.cli import deadletter_view
from services.cli.conflicts import _since
from services.cli.policy import DEFAULT_URL, Token, Url, Yes, _run

app = typer.Typer(help="List, show, replay and discard dead letters (admin API client, admin token).",
                  no_args_is_help=True)

Service = Annotated[str | None, typer.Option(help="Only those of this service, e.g. crm_applier")]
Reason = Annotated[str | None, typer.Option(help="Only those whose reason contains this text")]
Since = Annotated[
    str | None, typer.Option(help="Dead-lettered at or after (ISO 8601; no offset: UTC)", callback=_since)
]
Until = Annotated[str | None, typer.Option(help="Dead-lettered at or before (ISO 8601)", callback=_since)]


def _filters(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


@app.command("list")
def list_letters(
    service: Service = None, reason: Reason = None, since: Since = None, until: Until = None,
    status: Annotated[str | None, typer.Option(help="open | replayed | discarded")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: Url = DEFAULT_URL, token: Token = "",
) -> None:
    """The kept dead letters, newest first."""
    params = _filters(service=service, reason=reason, since=since, until=until, status=status)
    page = _run(url, token, lambda api: api.call(
        "GET", "/api/v1/deadletters", params={**params, "limit": limit, "offset": offset}
    ))
    typer.echo(deadletter_view.render_page(page))


@app.command()
def show(letter_id: str, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """One dead letter in full: origin, reason, exception, who replayed or discarded it, the original value."""
    letter = _run(url, token, lambda api: api.call("GET", f"/api/v1/deadletters/{letter_id}"))
    typer.echo(deadletter_view.render_letter(letter))


@app.command()
def replay(
    letter_id: Annotated[str | None, typer.Argument(help="One dead letter (or give filters, or --all)")] = None,
    service: Service = None, reason: Reason = None, since: Since = None, until: Until = None,
    every: Annotated[bool, typer.Option("--all", help="Every open dead letter")] = False,
    yes: Yes = False, url: Url = DEFAULT_URL, token: Token = "",
) -> None:
    """Re-publish original bytes to the topic they failed on; what was applied meanwhile stays as it is."""
    filters = _filters(service=service, reason=reason, since=since, until=until)
    if letter_id is not None:
        if filters or every:
            raise typer.BadParameter("give one dead letter id, or filters, or --all")
        result = _run(url, token, lambda api: api.call("POST", f"/api/v1/deadletters/{letter_id}/replay"))
        typer.echo(deadletter_view.render_replay({"replayed": [result]}))
        return
    if not filters and not every:
        raise typer.BadParameter("give a dead letter id, a filter (--service, --reason, --since, --until) or --all")
    if not yes:
        typer.confirm("Replay every open dead letter matching?" if filters else "Replay every open dead letter?",
                      abort=True)
    body = {**filters, "all": every}
    result = _run(url, token, lambda api: api.call("POST", "/api/v1/deadletters/replay", json=body))
    typer.echo(deadletter_view.render_replay(result))


@app.command()
def discard(
    letter_id: str,
    reason: Annotated[str, typer.Option(help="Why it is set aside (kept in the audit trail)")],
    url: Url = DEFAULT_URL, token: Token = "",
) -> None:
    """Set a dead letter aside for good, with the reason; it stays listed as discarded."""
    letter = _run(url, token, lambda api: api.call(
        "POST", f"/api/v1/deadletters/{letter_id}/discard", json={"reason": reason}
    ))
    typer.echo(f"discarded {letter['letter_id']}: {reason}")


@app.command()
def audit(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: Url = DEFAULT_URL, token: Token = "",
) -> None:
    """Who replayed or discarded which dead letter, newest first."""
    page = _run(url, token, lambda api: api.call(
        "GET", "/api/v1/deadletters/audit", params={"limit": limit, "offset": offset}
    ))
    typer.echo(deadletter_view.render_audit(page))
