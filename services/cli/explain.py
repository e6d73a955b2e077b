"""`fieldsync explain`: what happened to a record's fields for a mailbox, and why, through the admin API."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli import explain_view
from services.cli.policy import DEFAULT_URL, Token, Url, _run


def explain(
    entity: Annotated[str, typer.Argument(help="The entity, e.g. contact")],
    crm_id: Annotated[
        str | None, typer.Argument(help="The CRM record id (or give --exchange-id and --mailbox)")
    ] = None,
    mailbox: Annotated[str | None, typer.Option(help="Only what concerns this mailbox")] = None,
    field: Annotated[str | None, typer.Option(help="Only this field (CRM logical name), e.g. jobtitle")] = None,
    exchange_id: Annotated[
        str | None, typer.Option("--exchange-id", help="A mailbox item instead of a CRM id (needs --mailbox)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many changes, newest first")] = 20,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Explain each recent change of a record: the policy version, each field synced or why not, what was written."""
    if (crm_id is None) == (exchange_id is None):
        raise typer.BadParameter("give either CRM_ID or --exchange-id (with --mailbox)")
    if exchange_id is not None and mailbox is None:
        raise typer.BadParameter("--exchange-id needs --mailbox")
    filters = {"mailbox": mailbox, "field": field, "limit": limit}
    if exchange_id is not None:
        path, filters["exchange_id"] = f"/api/v1/explain/{entity}", exchange_id
    else:
        path = f"/api/v1/explain/{entity}/{crm_id}"
    params = {name: value for name, value in filters.items() if value is not None}
    answer = _run(url, token, lambda api: api.call("GET", path, params=params))
    typer.echo(explain_view.render_explanation(answer))
