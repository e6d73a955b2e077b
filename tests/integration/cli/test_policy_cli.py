"""`fieldsync policy` through typer's CliRunner against the admin API served over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from services.cli.policy import app
from tests.integration.admin_api.serving import Tokens, admin_settings, bearer, serve
from tests.support import free_port

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def tokens() -> Tokens:
    return Tokens.fresh()


@pytest.fixture
def api_url(redis_url: str, kafka_bootstrap: str, tokens: Tokens) -> Iterator[str]:
    with serve(admin_settings(redis_url, kafka_bootstrap, tokens)) as url:
        yield url


def cli(api_url: str, token: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin, env={"FIELDSYNC_API_URL": api_url,
                                                            "FIELDSYNC_API_TOKEN": token})
    return result.exit_code, result.stdout, result.stderr


def version(api_url: str, tokens: Tokens) -> int:
    policy = httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json()
    return int(policy["version"])


def test_show_draws_the_dialog(api_url: str, tokens: Tokens) -> None:
    code, out, _ = cli(api_url, tokens.viewer, "show", "appointment")
    assert code == 0, out
    assert "policy version 1" in out and "Appointment (appointment)" in out
    assert "  conflict rule: latest: the later change wins, a tie goes to CRM" in out.splitlines()
    line = next(line for line in out.splitlines() if "appointment_time" in line)
    assert line.split()[:4] == ["Appointment", "Time", "<->", "Appointment"] and "[fixed]" in line
    code, out, _ = cli(api_url, tokens.viewer, "show")
    assert code == 0 and all(name in out for name in ("(contact)", "(serviceappointment)", "<--"))


def test_set_shows_the_arrow_and_history_records_it(api_url: str, tokens: Tokens) -> None:
    code, out, _ = cli(api_url, tokens.admin, "set", "contact", "telephone1", "to_exchange")
    assert code == 0 and out.strip() == "contact.telephone1: <-- to_exchange (set, policy version 2)"
    code, out, _ = cli(api_url, tokens.viewer, "show", "contact")
    phone = next(line for line in out.splitlines() if " telephone1 " in line)
    assert "<--" in phone and "(default both)" in phone
    code, out, _ = cli(api_url, tokens.viewer, "history")
    assert code == 0
    assert tokens.admin_name in out and "contact.telephone1" in out and "both -> to_exchange" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "contact", "fullname", "none"), "error: 409 Conflict: contact.fullname is fixed"),
        (("set", "contact", "nope", "none"), "error: 404 Not Found: entity 'contact' has no synchronized field"),
        (("set", "contact", "telephone1", "sideways"), "error: 422 Unprocessable"),
        (("show", "lead"), "error: 404 Not Found: unknown entity 'lead'"),
    ],
)
def test_refusals_are_one_line_on_stderr(api_url: str, tokens: Tokens, args: tuple[str, ...], message: str) -> None:
    code, out, err = cli(api_url, tokens.admin, *args)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1
    assert version(api_url, tokens) == 1


def test_conflict_rule_is_set_shown_and_audited(api_url: str, tokens: Tokens) -> None:
    code, out, _ = cli(api_url, tokens.admin, "conflict-rule", "task", "crm_wins")
    assert code == 0
    assert out.strip() == "task: conflict rule: crm_wins: the CRM value wins (default latest) (set, policy version 2)"
    code, out, _ = cli(api_url, tokens.admin, "conflict-rule", "task", "crm_wins")
    assert code == 0 and "(unchanged, policy version 2)" in out
    code, out, _ = cli(api_url, tokens.viewer, "show", "task")
    assert "  conflict rule: crm_wins: the CRM value wins (default latest)" in out.splitlines()
    code, out, _ = cli(api_url, tokens.viewer, "history")
    assert code == 0 and "task conflict rule" in out and "latest -> crm_wins" in out


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        (("conflict-rule", "lead", "crm_wins"), "admin", "error: 404 Not Found: unknown entity 'lead'"),
        (("conflict-rule", "task", "newest"), "admin", "error: 422 Unprocessable Entity: invalid request: body.rule"),
        (("conflict-rule", "task", "crm_wins"), "viewer", "error: 403 Forbidden:"),
    ],
)
def test_refused_rules_change_nothing(
    api_url: str, tokens: Tokens, args: tuple[str, ...], token: str, message: str
) -> None:
    before = httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json()
    code, out, err = cli(api_url, getattr(tokens, token), *args)
    assert code == 1 and out == "" and err.startswith(message) and err.count("\n") == 1
    assert httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json() == before


def test_viewer_and_bad_token_are_refused(api_url: str, tokens: Tokens) -> None:
    code, _, err = cli(api_url, tokens.viewer, "set", "contact", "telephone1", "none")
    assert code == 1 and err.startswith("error: 403 Forbidden:")
    code, _, err = cli(api_url, "not-a-token", "show")
    assert code == 1 and err.strip() == "error: 401 Unauthorized: invalid token"
    code, _, err = cli(api_url, "", "show")
    assert code == 2 and "FIELDSYNC_API_TOKEN" in err


def test_unreachable_api_is_one_clear_line(tokens: Tokens) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = cli(url, tokens.admin, "show")
    assert code == 1 and out == ""
    assert err.startswith(f"error: cannot reach the admin API at {url}") and err.count("\n") == 1


def test_reset_asks_first(api_url: str, tokens: Tokens) -> None:
    cli(api_url, tokens.admin, "set", "task", "subject", "none")
    code, _, err = cli(api_url, tokens.admin, "reset", stdin="n\n")
    assert code == 1 and "Aborted" in err and version(api_url, tokens) == 2
    code, out, _ = cli(api_url, tokens.admin, "reset", stdin="y\n")
    assert code == 0 and "reset to defaults, version 3" in out
    cli(api_url, tokens.admin, "conflict-rule", "fax", "exchange_wins")
    code, out, _ = cli(api_url, tokens.admin, "reset", "--yes")
    assert code == 0 and "reset to defaults, version 5" in out
    rules = httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json()["conflict_rules"]
    assert set(rules.values()) == {"latest"}
    code, out, _ = cli(api_url, tokens.admin, "reset", "--yes")
    assert code == 0 and "already at the defaults, version 5" in out


def test_export_edit_apply_round_trip(api_url: str, tokens: Tokens, tmp_path: Path) -> None:
    code, out, _ = cli(api_url, tokens.viewer, "export")
    assert code == 0
    document = json.loads(out)
    assert document["version"] == 1 and document["directions"]["contact"]["telephone1"] == "both"
    document["directions"]["contact"]["telephone1"] = "to_crm"
    document["directions"]["fax"]["subject"] = "none"
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    code, out, _ = cli(api_url, tokens.admin, "apply", str(path), stdin="n\n")
    assert code == 1 and "contact.telephone1: both -> to_crm  (<-> -> -->)" in out
    assert "fax.subject: both -> none" in out and version(api_url, tokens) == 1
    code, out, _ = cli(api_url, tokens.admin, "apply", str(path), "--yes")
    assert code == 0 and "applied 2 changes, policy version 2" in out
    code, out, _ = cli(api_url, tokens.admin, "apply", str(path), "--yes")
    assert code == 0 and "nothing to change" in out and version(api_url, tokens) == 2


def test_export_apply_carries_conflict_rules(api_url: str, tokens: Tokens, tmp_path: Path) -> None:
    _, out, _ = cli(api_url, tokens.viewer, "export")
    document = json.loads(out)
    assert document["conflict_rules"] == {name: "latest" for name in document["directions"]}
    document["conflict_rules"]["contact"] = "exchange_wins"
    document["directions"]["task"]["subject"] = "to_crm"
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out, _ = cli(api_url, tokens.admin, "apply", str(path), stdin="n\n")
    assert code == 1 and "  contact conflict rule: latest -> exchange_wins" in out.splitlines()
    assert "task.subject: both -> to_crm" in out and "Apply these 2 changes?" in out and version(api_url, tokens) == 1
    code, out, _ = cli(api_url, tokens.admin, "apply", str(path), "--yes")
    assert code == 0 and "applied 2 changes, policy version 2" in out
    policy = httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json()
    assert policy["conflict_rules"]["contact"] == "exchange_wins"
    assert policy["directions"]["task"]["subject"] == "to_crm"
    code, out, _ = cli(api_url, tokens.admin, "apply", str(path), "--yes")
    assert "nothing to change" in out and version(api_url, tokens) == 2


def test_apply_is_all_or_nothing_across_directions_and_rules(api_url: str, tokens: Tokens, tmp_path: Path) -> None:
    _, out, _ = cli(api_url, tokens.viewer, "export")
    document = json.loads(out)
    document["conflict_rules"]["contact"] = "crm_wins"
    document["conflict_rules"]["lead"] = "crm_wins"  # not a synced entity: the whole apply is refused
    document["directions"]["task"]["subject"] = "none"
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    before = httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json()
    code, _, err = cli(api_url, tokens.admin, "apply", str(path), "--yes")
    assert code == 1 and err.startswith("error: 404 Not Found: unknown entity 'lead'")
    assert httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json() == before


def test_an_export_from_before_conflict_rules_still_applies(api_url: str, tokens: Tokens, tmp_path: Path) -> None:
    cli(api_url, tokens.admin, "conflict-rule", "contact", "crm_wins")
    _, out, _ = cli(api_url, tokens.viewer, "export")
    document = json.loads(out)
    del document["conflict_rules"]
    document["directions"]["fax"]["subject"] = "none"
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out, _ = cli(api_url, tokens.admin, "apply", str(path), "--yes")
    assert code == 0 and "applied 1 changes, policy version 3" in out
    policy = httpx.get(f"{api_url}/api/v1/policy", headers=bearer(tokens.viewer)).json()
    assert policy["conflict_rules"]["contact"] == "crm_wins"  # rules the file does not name stay as they are


def test_strict_apply_refuses_a_moved_policy(api_url: str, tokens: Tokens, tmp_path: Path) -> None:
    _, out, _ = cli(api_url, tokens.viewer, "export")
    document = json.loads(out)
    document["directions"]["letter"]["subject"] = "to_exchange"
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    cli(api_url, tokens.admin, "set", "contact", "telephone1", "none")  # someone else moves it to version 2
    code, _, err = cli(api_url, tokens.admin, "apply", str(path), "--yes", "--strict")
    assert code == 1 and err.startswith("error: 409 Conflict: policy version is 2, not the expected 1")
    assert version(api_url, tokens) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "cannot read"), ('{"directions": {"contact": {"telephone1": "up"}}}', "unknown direction 'up'"),
     ('{"conflict_rules": {"contact": "newest"}}', "unknown conflict rule 'newest'"),
     ("[]", "expected a JSON object")],
)
def test_bad_apply_file(api_url: str, tokens: Tokens, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(content, encoding="utf-8")
    code, _, err = cli(api_url, tokens.admin, "apply", str(path), "--yes")
    assert code == 1 and message in err and version(api_url, tokens) == 1
