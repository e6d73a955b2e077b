"""`fieldsync settings show|set KEY VALUE`: the organisation's sync settings, through the admin API over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli import settings_view
from services.cli.policy import DEFAULT_URL, Token, Url, _run, _warn_unpublished
from shared.org_settings import NAMES, SettingsError, parse_value

app = typer.Typer(help="View and change the organisation's sync settings (admin API client).", no_args_is_help=True)


@app.command()
def show(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Show every setting, its value and what it does (any token)."""
    shown = _run(url, token, lambda api: api.call("GET", "/api/v1/settings"))
    typer.echo(settings_view.render_settings(shown))


@app.command("set")
def set_setting(
    key: Annotated[str, typer.Argument(help=" | ".join(NAMES))],
    value: Annotated[str, typer.Argument(help="true | false")],
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Set one setting (admins only); an unknown key or a value that is not true/false changes nothing."""
    try:
        flag = parse_value(key, value)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    result = _run(url, token, lambda api: api.call("PUT", "/api/v1/settings", json={key: flag}))
    typer.echo(settings_view.render_update(key, result))
    _warn_unpublished(result)
