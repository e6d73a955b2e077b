"""`fieldsync policy ...`: view and change the sync directions and conflict rules through the admin API over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer

from services.cli import policy_view, preview_view
from shared.events import CONFLICT_RULES, DIRECTIONS

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
PREVIEW_TIMEOUT_S = 90.0

app = typer.Typer(
    help="View and change the per-field sync directions and conflict rules (admin API client).", no_args_is_help=True
)

Url = Annotated[str, typer.Option("--url", envvar="FIELDSYNC_API_URL", help="Admin API base URL")]
Token = Annotated[
    str, typer.Option("--token", envvar="FIELDSYNC_API_TOKEN", help="API token", show_default=False)
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]


class ApiError(Exception):
    """A refusal from the API or a transport failure, already phrased for the user."""


class AdminClient:
    """Thin async client: one httpx.AsyncClient per command, errors turned into ApiError."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the admin API at {self._url} ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text.strip() or response.reason_phrase
            raise ApiError(f"{response.status_code} {response.reason_phrase}: {detail}")
        return response.json()


def _run(url: str, token: str, work: Callable[[AdminClient], Awaitable[T]]) -> T:
    """Run one command's requests; any API error is one line on stderr and exit status 1."""
    if not token:
        typer.echo("error: no API token: pass --token or set FIELDSYNC_API_TOKEN", err=True)
        raise typer.Exit(2)

    async def session() -> T:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=15) as http:
            return await work(AdminClient(http, url))

    try:
        return asyncio.run(session())
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def show(
    entity: Annotated[str | None, typer.Argument(help="Only this entity (default: all)")] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Show field directions as the Dynamics dialog does (Outlook field, arrow, CRM field) and conflict rules."""

    async def work(api: AdminClient) -> str:
        entities = await api.call("GET", "/api/v1/entities")
        if entity is not None:
            entities = [e for e in entities if e["name"] == entity] or [{"name": entity, "display_name": entity}]
        policy = await api.call("GET", "/api/v1/policy")
        rules = policy.get("conflict_rules", {})
        tables = [
            policy_view.render_fields(
                spec, await api.call("GET", f"/api/v1/entities/{spec['name']}/fields"), rules.get(spec["name"])
            )
            for spec in entities
        ]
        head = f"policy version {policy['version']}, changed {policy['updated_at']} by {policy['updated_by']}"
        return "\n\n".join([head, *tables, policy_view.LEGEND])

    typer.echo(_run(url, token, work))


@app.command("set")
def set_direction(
    entity: str,
    field: str,
    direction: Annotated[str, typer.Argument(help=" | ".join(DIRECTIONS))],
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Set one field's direction (admins only)."""
    path = f"/api/v1/entities/{entity}/fields/{field}/direction"
    result = _run(url, token, lambda api: api.call("PUT", path, json={"direction": direction}))
    arrow = policy_view.ARROWS[result["field"]["direction"]]
    what = "set" if result["changed"] else "unchanged"
    typer.echo(f"{entity}.{field}: {arrow} {result['field']['direction']} ({what}, policy version {result['version']})")
    _warn_unpublished(result)


@app.command("conflict-rule")
def set_conflict_rule(
    entity: str,
    rule: Annotated[str, typer.Argument(help=" | ".join(CONFLICT_RULES))],
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Set how an entity's conflicts (a field changed on both sides) are decided (admins only)."""
    path = f"/api/v1/entities/{entity}/conflict-rule"
    result = _run(url, token, lambda api: api.call("PUT", path, json={"rule": rule}))
    what = "set" if result["changed"] else "unchanged"
    typer.echo(f"{entity}: {policy_view.render_rule(result['rule'])} ({what}, policy version {result['version']})")
    _warn_unpublished(result)


@app.command()
def history(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Show who changed which field or conflict rule when, newest first."""
    page = _run(url, token, lambda api: api.call("GET", "/api/v1/policy/history",
                                                  params={"limit": limit, "offset": offset}))
    typer.echo(policy_view.render_history(page))


@app.command()
def reset(yes: Yes = False, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Put every field back to its documented default direction and every conflict rule to latest (one version)."""
    if not yes:
        typer.confirm("Reset every field to its default direction and every conflict rule to latest?", abort=True)
    result = _run(url, token, lambda api: api.call("POST", "/api/v1/policy/reset"))
    state = "reset to defaults" if result["changed"] else "already at the defaults"
    typer.echo(f"policy {state}, version {result['policy']['version']}")
    _warn_unpublished(result)


@app.command()
def export(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Write the directions, conflict rules, organisation settings and their version as JSON (`> policy.json`)."""
    policy = _run(url, token, lambda api: api.call("GET", "/api/v1/policy"))
    typer.echo(json.dumps(policy_view.export_document(policy), indent=2, sort_keys=True))


def _read_document(file: Path) -> tuple[int | None, dict[str, dict[str, str]], dict[str, str], dict[str, Any]]:
    """The file's version, directions, conflict rules and settings (absent: {}); exit 1 when it cannot be read."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        version, directions, rules = policy_view.parse_document(document)
        settings = document.get("settings") or {}
        if not isinstance(settings, dict):
            raise ValueError('"settings" must be an object of setting: value')
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    return version, directions, rules, settings


async def _preview(api: AdminClient, changes: list[dict[str, str]], rule_changes: list[dict[str, str]],
                   settings: dict[str, Any] | None = None, sample: int = 5) -> str:  # fmt: skip
    body: dict[str, Any] = {"changes": changes, "rule_changes": rule_changes, "sample_size": sample}
    if settings:
        body["settings"] = settings
    # A replay of a full window takes seconds (bench/window.py): more than the other calls' 15 s on a busy machine.
    report = await api.call("POST", "/api/v1/policy/preview", json=body, timeout=PREVIEW_TIMEOUT_S)
    return preview_view.render_report(report)


async def _preview_or_why(api: AdminClient, changes: list[dict[str, str]], rule_changes: list[dict[str, str]],
                          settings: dict[str, Any]) -> str:  # fmt: skip
    """apply's preview: when it cannot be had (the policy service away), say why and let the admin decide."""
    try:
        return await _preview(api, changes, rule_changes, settings)
    except ApiError as exc:
        return f"warning: no preview against recent traffic: {exc}"


@app.command("preview")
def preview_file(
    file: Annotated[Path, typer.Argument(help="A document written by `policy export`, edited")],
    sample: Annotated[int, typer.Option(min=0, max=100, help="How many affected changes to show")] = 5,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Show what the file's policy would change against the recent recorded traffic; applies nothing (admins)."""
    _version, wanted, wanted_rules, settings = _read_document(file)

    async def work(api: AdminClient) -> str:
        current = await api.call("GET", "/api/v1/policy")
        changes = policy_view.diff(current["directions"], wanted)
        rule_changes = policy_view.rule_diff(current.get("conflict_rules", {}), wanted_rules)
        changed = policy_view.settings_diff(current.get("settings", {}), settings)
        head = f"changes to policy version {current['version']}:"
        listed = policy_view.render_diff(current["directions"], changes, current.get("conflict_rules", {}),
                                         rule_changes, current.get("settings", {}), changed)  # fmt: skip
        if not (changes or rule_changes or changed):
            head, listed = f"no change to policy version {current['version']}:", "  (previewing it against itself)"
        return "\n".join([head, listed, "", await _preview(api, changes, rule_changes, changed, sample)])

    typer.echo(_run(url, token, work))


@app.command("apply")
def apply_file(
    file: Annotated[Path, typer.Argument(help="A document written by `policy export`, edited")],
    yes: Yes = False,
    strict: Annotated[
        bool, typer.Option(help="Refuse unless the policy is still at the file's version")
    ] = False,
    preview: Annotated[
        bool, typer.Option(help="Show what it would change against the recent recorded traffic first")
    ] = True,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Show the difference to the current policy and its preview against recent traffic, then apply it atomically.

    The change is sent with expected_version = the version the diff was computed against (or, with
    --strict, the version in the file), so a change made by someone else in between is never
    overwritten: the API answers 409 and nothing is applied.
    """
    file_version, wanted, wanted_rules, wanted_settings = _read_document(file)
    current = _run(url, token, lambda api: api.call("GET", "/api/v1/policy"))
    current_rules, current_settings = current.get("conflict_rules", {}), current.get("settings", {})
    changes = policy_view.diff(current["directions"], wanted)
    rule_changes = policy_view.rule_diff(current_rules, wanted_rules)
    settings = policy_view.settings_diff(current_settings, wanted_settings)
    count = len(changes) + len(rule_changes) + len(settings)
    if not count:
        typer.echo(f"nothing to change: the policy (version {current['version']}) already matches {file}")
        return
    typer.echo(f"changes to policy version {current['version']}:")
    typer.echo(policy_view.render_diff(current["directions"], changes, current_rules, rule_changes, current_settings,
                                       settings))  # fmt: skip
    if preview:
        typer.echo("")
        typer.echo(_run(url, token, lambda api: _preview_or_why(api, changes, rule_changes, settings)))
        typer.echo("")
    if not yes:
        typer.confirm(f"Apply these {count} changes?", abort=True)
    expected = file_version if strict else current["version"]
    body = {"changes": changes, "rule_changes": rule_changes, "settings": settings, "expected_version": expected}
    result = _run(url, token, lambda api: api.call("PUT", "/api/v1/policy", json=body))
    typer.echo(f"applied {count} changes, policy version {result['policy']['version']}")
    _warn_unpublished(result)


def _warn_unpublished(result: dict[str, Any]) -> None:
    if result.get("changed") and not result.get("published"):
        typer.echo(
            "warning: the change is stored but PolicyChanged could not be published; "
            "the policy service picks it up at its next start or with the next change",
            err=True,
        )
