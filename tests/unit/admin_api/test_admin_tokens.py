"""Tokens, roles and the refusal to run the sandbox's placeholder tokens outside the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.admin_api.main import create_app
from services.admin_api.settings import AdminApiSettings
from services.admin_api.tokens import SANDBOX_TOKENS, TokenRecord, TokenRegistry, check_tokens, hash_token


def record(name: str, role: str, token: str) -> TokenRecord:
    return TokenRecord.model_validate({"name": name, "role": role, "sha256": hash_token(token)})


def test_registry_resolves_known_tokens_only() -> None:
    registry = TokenRegistry((record("alice", "admin", "a-secret"), record("bob", "viewer", "b-secret")))
    alice = registry.verify("a-secret")
    assert alice is not None and alice.name == "alice" and alice.is_admin
    bob = registry.verify("b-secret")
    assert bob is not None and bob.role == "viewer" and not bob.is_admin
    for wrong in ("", "a-secret ", "A-SECRET", hash_token("a-secret"), "b"):
        assert registry.verify(wrong) is None


def test_sandbox_defaults_ship_the_two_documented_tokens() -> None:
    registry = TokenRegistry(AdminApiSettings(sandbox=True).token_records())
    admin, viewer = registry.verify("sandbox-admin-token"), registry.verify("sandbox-viewer-token")
    assert admin is not None and (admin.name, admin.role) == ("sandbox-admin", "admin")
    assert viewer is not None and (viewer.name, viewer.role) == ("sandbox-viewer", "viewer")


def test_outside_the_sandbox_placeholder_tokens_refuse_to_start() -> None:
    with pytest.raises(ValueError, match="placeholder API tokens"):
        create_app(AdminApiSettings(sandbox=False))
    with pytest.raises(ValueError, match="placeholder"):
        check_tokens((SANDBOX_TOKENS[1], record("ops", "admin", "real")), sandbox=False)


def test_outside_the_sandbox_real_tokens_start() -> None:
    settings = AdminApiSettings(sandbox=False, admin_tokens=[record("ops", "admin", "a-long-real-token")],
                                crm_client_secret=SecretStr("real-secret"), ews_password=SecretStr("real-password"))
    assert create_app(settings).title == "fieldsync admin API"


def test_tokens_file_adds_records_and_replaces_the_sandbox_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([record("ops", "viewer", "file-token").model_dump()]), encoding="utf-8")
    records = AdminApiSettings(sandbox=False, admin_tokens_file=path).token_records()
    assert [r.name for r in records] == ["ops"]


@pytest.mark.parametrize(
    ("content", "match"),
    [("not json", "cannot read"), ('[{"name": "x", "role": "root", "sha256": "00"}]', "cannot read")],
)
def test_bad_tokens_file_is_a_clear_error(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        AdminApiSettings(admin_tokens_file=path).token_records()


def test_no_tokens_and_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="no admin API tokens"):
        AdminApiSettings(admin_tokens=[]).token_records()
    with pytest.raises(ValueError, match="unique"):
        check_tokens((record("a", "admin", "x"), record("a", "viewer", "y")), sandbox=True)


def test_tokens_are_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSYNC_ADMIN_TOKENS", json.dumps([record("env", "admin", "env-token").model_dump()]))
    registry = TokenRegistry(AdminApiSettings().token_records())
    principal = registry.verify("env-token")
    assert principal is not None and principal.name == "env"
    assert registry.verify("sandbox-admin-token") is None
