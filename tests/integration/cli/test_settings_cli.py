"""`fieldsync settings` and the settings in `policy export/apply`, through CliRunner against the admin API over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from services.cli.main import app
from tests.integration.admin_api.serving import Tokens, admin_settings, bearer, serve

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def api_url(redis_url: str, kafka_bootstrap: str, tokens: Tokens) -> Iterator[str]:
    with serve(admin_settings(redis_url, kafka_bootstrap, tokens)) as url:
        yield url


def cli(api_url: str, token: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"FIELDSYNC_API_URL": api_url, "FIELDSYNC_API_TOKEN": token})
    return result.exit_code, result.stdout, result.stderr


def stored(api_url: str, tokens: Tokens) -> dict[str, object]:
    return dict(httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json())


def test_show_and_set(api_url: str, tokens: Tokens) -> None:
    code, out, _ = cli(api_url, tokens.viewer, "settings", "show")
    assert code == 0, out
    assert "organisation settings, policy version 1" in out
    assert out.splitlines()[2].split() == ["distinct_physical_and_logical_deletes", "false"]
    code, out, _ = cli(api_url, tokens.admin, "settings", "set", "track_categorized_items", "off")
    assert code == 0, out
    assert out.strip() == "track_categorized_items: true -> false (set, policy version 2)"
    code, out, _ = cli(api_url, tokens.admin, "settings", "set", "track_categorized_items", "false")
    assert out.strip() == "track_categorized_items: false (unchanged, policy version 2)"
    code, out, _ = cli(api_url, tokens.viewer, "policy", "history")
    assert "setting track_categorized_items" in out and "true -> false" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("colour", "true"), "error: unknown setting colour; known settings:"),
        (("track_categorized_items", "maybe"), "error: track_categorized_items: 'maybe' is not a boolean"),
    ],
)
def test_bad_keys_and_values_change_nothing(api_url: str, tokens: Tokens, args: tuple[str, str], words: str) -> None:
    code, _, err = cli(api_url, tokens.admin, "settings", "set", *args)
    assert code == 1 and err.startswith(words)
    assert stored(api_url, tokens)["version"] == 1


def test_a_viewer_cannot_set(api_url: str, tokens: Tokens) -> None:
    code, _, err = cli(api_url, tokens.viewer, "settings", "set", "track_categorized_items", "false")
    assert code == 1 and "403" in err
    assert stored(api_url, tokens)["version"] == 1


def test_export_and_apply_carry_the_settings(api_url: str, tokens: Tokens, tmp_path: Path) -> None:
    code, out, _ = cli(api_url, tokens.viewer, "policy", "export")
    document = json.loads(out)
    assert document["settings"]["delete_exchange_tasks_in_crm"] is True
    document["settings"]["delete_exchange_tasks_in_crm"] = False
    file = tmp_path / "policy.json"
    file.write_text(json.dumps(document), encoding="utf-8")
    code, out, _ = cli(api_url, tokens.admin, "policy", "apply", str(file), "--yes", "--no-preview")
    assert code == 0, out
    assert "  setting delete_exchange_tasks_in_crm: true -> false" in out.splitlines()
    assert "applied 1 changes, policy version 2" in out
    settings = stored(api_url, tokens)["settings"]
    assert isinstance(settings, dict) and settings["delete_exchange_tasks_in_crm"] is False
    code, out, _ = cli(api_url, tokens.admin, "policy", "apply", str(file), "--yes", "--no-preview")
    assert code == 0 and out.startswith("nothing to change")
