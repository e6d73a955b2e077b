"""`fieldsync filters show|preview`: each user's sync filters, and what a filter would sync, through the admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli import filters_view
from services.cli.policy import DEFAULT_URL, PREVIEW_TIMEOUT_S, Token, Url, _run

app = typer.Typer(help="Show users' sync filters and preview a filter (admin API client).", no_args_is_help=True)


@app.command()
def show(
    mailbox: Annotated[str | None, typer.Option(help="Only this mailbox (default: all)")] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Each user's filters (their own, then the system ones): parsed, enabled, and whether they apply."""
    params = {"mailbox": mailbox} if mailbox else {}
    page = _run(url, token, lambda api: api.call("GET", "/api/v1/filters", params=params))
    typer.echo(filters_view.render_filters(page))


@app.command()
def preview(
    mailbox: Annotated[str, typer.Option(help="The mailbox whose user the filter runs as")],
    entity: Annotated[str, typer.Option(help="The entity, e.g. contact")],
    file: Annotated[Path | None, typer.Argument(help="A file holding the FetchXML (or give --fetchxml)")] = None,
    fetchxml: Annotated[str | None, typer.Option(help="The FetchXML itself")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=200)] = 50,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """The records a filter would sync to the mailbox under its user's privileges (admins only); changes nothing."""
    if (file is None) == (fetchxml is None):
        raise typer.BadParameter("give a FILE or --fetchxml, one of them")
    text = fetchxml if fetchxml is not None else _read(file)
    body = {"mailbox": mailbox, "entity": entity, "fetchxml": text, "page": page, "page_size": page_size}
    answer = _run(url, token, lambda api: api.call("POST", "/api/v1/filters/preview", json=body,
                                                   timeout=PREVIEW_TIMEOUT_S))  # fmt: skip
    typer.echo(filters_view.render_preview(answer))


def _read(file: Path | None) -> str:
    assert file is not None
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}") from exc
