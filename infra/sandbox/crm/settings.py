"""Settings of the sandbox Dynamics 365 Web API (FIELDSYNC_ prefix, like every fieldsync setting)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from infra.sandbox.faults import FaultKnobs
from shared.settings import SANDBOX_CRM_SECRET, Base

# The password every seeded person signs in with (grant_type=password); refused outside the sandbox.
SANDBOX_USER_PASSWORD = "sandbox-password"

API_PATH = "/api/data/v9.2/"
TOKEN_PATH = "/oauth2/token"


class CrmSandboxSettings(Base):
    """Where the sandbox listens, which client it accepts, where it keeps its state.

    The client id and secret use the same variable names as the connector's `CrmSettings`, so one
    env file configures both sides alike.
    """

    crm_sandbox_host: str = "127.0.0.1"
    crm_sandbox_port: int = 8101
    # Empty means `data_dir / "sandbox" / "crm.sqlite3"`.
    crm_sandbox_db_path: Path | None = None
    crm_client_id: str = "fieldsync"
    crm_client_secret: SecretStr = SecretStr(SANDBOX_CRM_SECRET)
    crm_sandbox_user_password: SecretStr = SecretStr(SANDBOX_USER_PASSWORD)
    crm_sandbox_token_ttl_s: int = 3600
    crm_sandbox_page_size: int = 5000
    # The organisation's maxuploadfilesize (Dynamics' default, 5 MB): a larger attachment body is refused.
    crm_sandbox_max_upload_file_size: int = 5_242_880
    # JSON, e.g. FIELDSYNC_CRM_SANDBOX_FAULTS='{"latency_ms": 50}'; changeable live via /_sandbox/faults.
    crm_sandbox_faults: FaultKnobs = FaultKnobs()

    @property
    def db_path(self) -> Path:
        return self.crm_sandbox_db_path or self.data_dir / "sandbox" / "crm.sqlite3"

    @property
    def base_url(self) -> str:
        """The Web API root the connectors use (the default is CrmSettings.crm_base_url)."""
        return f"http://{self.crm_sandbox_host}:{self.crm_sandbox_port}{API_PATH}"

    @property
    def token_url(self) -> str:
        return f"http://{self.crm_sandbox_host}:{self.crm_sandbox_port}{TOKEN_PATH}"
