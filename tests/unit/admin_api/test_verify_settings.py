"""What verify needs from the configuration: real CRM and EWS secrets outside the sandbox, and in compose."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from services.admin_api.settings import AdminApiSettings
from services.admin_api.verify_routes import verify_api
from shared.settings import SANDBOX_CRM_SECRET, SANDBOX_EXCHANGE_PASSWORD

ROOT = Path(__file__).resolve().parents[3]
REAL = {"crm_client_secret": SecretStr("real-secret"), "ews_password": SecretStr("real-password")}
PLACEHOLDERS = {"crm_client_secret": SANDBOX_CRM_SECRET, "ews_password": SANDBOX_EXCHANGE_PASSWORD}


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDERS))
def test_outside_the_sandbox_placeholder_secrets_are_refused(placeholder: str) -> None:
    settings = AdminApiSettings(sandbox=False, **{**REAL, placeholder: SecretStr(PLACEHOLDERS[placeholder])})
    with pytest.raises(ValueError, match="placeholder secret"):
        verify_api(settings)


def test_real_secrets_and_the_sandbox_are_accepted() -> None:
    verify_api(AdminApiSettings(sandbox=False, **REAL))
    verify_api(AdminApiSettings())  # the sandbox's placeholders, in the sandbox


def test_compose_gives_the_admin_api_the_crm_and_ews_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    environment = compose["services"]["admin-api"]["environment"]
    wanted = {f"FIELDSYNC_{name.upper()}" for name in ("crm_base_url", "crm_token_url", "crm_client_id",
                                                       "crm_client_secret", "ews_url", "ews_username", "ews_password")}
    assert wanted <= set(environment)
