"""Settings of the embedded stack: its ports, data folder, which services run, and how long readiness may take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from infra.runner.process import free_port
from infra.sandbox.seed import SandboxClientSettings
from shared.settings import METRICS_SERVICES, CrmSettings, ExchangeSettings, KafkaSettings, MetricsSettings

ALL_SERVICES = "all"
NO_SERVICES = "none"


class StackSettings(KafkaSettings, CrmSettings, ExchangeSettings, MetricsSettings):
    """The embedded stack owns its ports: the broker, Redis, CRM and EWS URLs the children get are derived
    from them (FIELDSYNC_BOOTSTRAP_SERVERS, FIELDSYNC_REDIS_URL, ... are for services run elsewhere)."""

    broker_port: int = 19092
    redis_port: int = 16379
    crm_sandbox_port: int = 8101
    exchange_sandbox_port: int = 8102
    admin_api_port: int = 8000
    # The policy worker's web server, where it answers previews for the admin API (a free port unless set: only
    # the admin API needs to know it, and two stacks on one machine must not share it).
    policy_web_port: int = Field(default_factory=free_port)
    # "all" (every service whose package exists), "none", or a comma list such as "admin_api,policy".
    stack_services: str = ALL_SERVICES
    # Seed the sandboxes (alice, bob, carol, admin) the first time the data folder is used.
    stack_seed: bool = True
    # How many users the seed creates (None: alice, bob, carol); the benchmark seeds more to spread traffic.
    stack_seed_users: int | None = None
    stack_ready_timeout_s: float = 60.0
    # A service without a port or health URL counts as ready once it stayed alive this long.
    stack_settle_s: float = 1.5

    @property
    def root(self) -> Path:
        return self.data_dir.resolve()

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def seed_marker(self) -> Path:
        return self.root / "seeded"

    @property
    def stack_bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def stack_redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def crm_root(self) -> str:
        return f"http://127.0.0.1:{self.crm_sandbox_port}"

    @property
    def exchange_root(self) -> str:
        return f"http://127.0.0.1:{self.exchange_sandbox_port}"

    @property
    def admin_root(self) -> str:
        return f"http://127.0.0.1:{self.admin_api_port}"

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.metrics_port(service)}/metrics"

    def wanted(self, name: str) -> bool:
        choice = self.stack_services.strip().lower()
        if choice == ALL_SERVICES:
            return True
        if choice in (NO_SERVICES, ""):
            return False
        return name in {part.strip() for part in choice.split(",")}

    def child_env(self) -> dict[str, str]:
        """FIELDSYNC_* variables every child gets, so each one finds the others on this stack's ports."""
        return {
            "FIELDSYNC_SANDBOX": "true" if self.sandbox else "false",
            "FIELDSYNC_DATA_DIR": str(self.root),
            "FIELDSYNC_LOG_LEVEL": self.log_level,
            "FIELDSYNC_BOOTSTRAP_SERVERS": self.stack_bootstrap,
            "FIELDSYNC_TOPIC_PARTITIONS": str(self.topic_partitions),
            "FIELDSYNC_FETCH_MAX_WAIT_MS": str(self.fetch_max_wait_ms),
            "FIELDSYNC_REDIS_URL": self.stack_redis_url,
            "FIELDSYNC_CRM_BASE_URL": f"{self.crm_root}/api/data/v9.2/",
            "FIELDSYNC_CRM_TOKEN_URL": f"{self.crm_root}/oauth2/token",
            "FIELDSYNC_CRM_CLIENT_ID": self.crm_client_id,
            "FIELDSYNC_CRM_CLIENT_SECRET": self.crm_client_secret.get_secret_value(),
            "FIELDSYNC_CRM_SANDBOX_PORT": str(self.crm_sandbox_port),
            "FIELDSYNC_EWS_URL": f"{self.exchange_root}/EWS/Exchange.asmx",
            "FIELDSYNC_EWS_USERNAME": self.ews_username,
            "FIELDSYNC_EWS_PASSWORD": self.ews_password.get_secret_value(),
            "FIELDSYNC_EXCHANGE_SANDBOX_PORT": str(self.exchange_sandbox_port),
            # The EWS sandbox accepts exactly the service account the connectors are configured with.
            "FIELDSYNC_EXCHANGE_SANDBOX_SERVICE_ACCOUNT": self.ews_username,
            "FIELDSYNC_EXCHANGE_SANDBOX_PASSWORD": self.ews_password.get_secret_value(),
            "FIELDSYNC_ADMIN_API_PORT": str(self.admin_api_port),
            "FIELDSYNC_POLICY_WEB_ENABLED": "true",
            "FIELDSYNC_POLICY_WEB_PORT": str(self.policy_web_port),
            "FIELDSYNC_POLICY_PREVIEW_URL": f"http://127.0.0.1:{self.policy_web_port}",
            "FIELDSYNC_METRICS_HOST": "127.0.0.1",
            **{f"FIELDSYNC_{name.upper()}_METRICS_PORT": str(self.metrics_port(name)) for name in METRICS_SERVICES},
        }

    def client_settings(self) -> SandboxClientSettings:
        """The connector view of this stack: what seed and traffic use to reach the two sandboxes."""
        env = self.child_env()
        return SandboxClientSettings(
            data_dir=self.root,
            crm_base_url=env["FIELDSYNC_CRM_BASE_URL"],
            crm_token_url=env["FIELDSYNC_CRM_TOKEN_URL"],
            crm_client_id=self.crm_client_id,
            crm_client_secret=self.crm_client_secret,
            ews_url=env["FIELDSYNC_EWS_URL"],
            ews_username=self.ews_username,
            ews_password=self.ews_password,
        )


def free_port_settings(data_dir: Path, **overrides: Any) -> StackSettings:
    """Stack settings on free ports over `data_dir`: for tests that run a whole stack beside others."""
    ports = {
        name: free_port()
        for name in (
            "broker_port", "redis_port", "crm_sandbox_port", "exchange_sandbox_port", "admin_api_port",
            "policy_web_port",
        )
    }
    return StackSettings(data_dir=data_dir, **{**ports, **free_metrics_ports(), **overrides})


def free_metrics_ports() -> dict[str, int]:
    """Every service's metrics port setting on a free port (a stack beside a running one, or beside tests)."""
    return {f"{name}_metrics_port": free_port() for name in METRICS_SERVICES}
