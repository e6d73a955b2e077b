"""`fieldsync conflicts`: the recorded conflicts (a field changed on both sides), through the admin API."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli import conflicts_view
from services.cli.policy import DEFAULT_URL, Token, Url, _run


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return conflicts_view.parse_since(text).isoformat()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def show(
    entity: Annotated[str | None, typer.Option(help="Only this entity, e.g. contact")] = None,
    crm_id: Annotated[str | None, typer.Option("--crm-id", help="Only this CRM record")] = None,
    mailbox: Annotated[str | None, typer.Option(help="Only this mailbox")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only conflicts decided at or after this ISO 8601 time (no offset: UTC)", callback=_since),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Show recorded conflicts, newest first: both values, the rule that decided and the winner."""
    filters = {"entity": entity, "crm_id": crm_id, "mailbox": mailbox, "since": since}
    params = {name: value for name, value in filters.items() if value is not None}
    page = _run(url, token, lambda api: api.call(
        "GET", "/api/v1/conflicts", params={**params, "limit": limit, "offset": offset}
    ))
    typer.echo(conflicts_view.render_conflicts(page))
