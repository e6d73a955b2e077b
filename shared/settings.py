"""Settings mixins: every service composes the parts it needs; all variables carry the FIELDSYNC_ prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The sandbox's documented placeholders: accepted only while FIELDSYNC_SANDBOX is true.
SANDBOX_CRM_SECRET = "sandbox-secret"
SANDBOX_EXCHANGE_PASSWORD = "sandbox-password"
SANDBOX_ADMIN_TOKEN = "sandbox-admin-token"
SANDBOX_VIEWER_TOKEN = "sandbox-viewer-token"
PLACEHOLDER_SECRETS = frozenset(
    {SANDBOX_CRM_SECRET, SANDBOX_EXCHANGE_PASSWORD, SANDBOX_ADMIN_TOKEN, SANDBOX_VIEWER_TOKEN}
)


class Base(BaseSettings):
    """Common configuration: env prefix, optional .env file, and the sandbox switch."""

    model_config = SettingsConfigDict(env_prefix="FIELDSYNC_", env_file=".env", extra="ignore")

    sandbox: bool = True
    data_dir: Path = Path(".fieldsync")
    log_level: str = "INFO"


class KafkaSettings(Base):
    bootstrap_servers: str = "127.0.0.1:19092"
    topic_partitions: int = 6
    # Tansu holds every fetch for the full wait even when data is ready (DESIGN 5), so the wait is paid
    # per hop; but every consumer fetches 1000/wait times a second even when idle. Measured on 2 cores
    # (bench/pipeline.py --quick): 50 ms costs a fifth of a core less than 10 ms when idle and gave the
    # lower p99 under load (README, Architecture decisions).
    fetch_max_wait_ms: int = 50


class RedisSettings(Base):
    redis_url: str = "redis://127.0.0.1:16379/0"


class CrmSettings(Base):
    crm_base_url: str = "http://127.0.0.1:8101/api/data/v9.2/"
    crm_token_url: str = "http://127.0.0.1:8101/oauth2/token"
    crm_client_id: str = "fieldsync"
    crm_client_secret: SecretStr = SecretStr(SANDBOX_CRM_SECRET)


class ExchangeSettings(Base):
    ews_url: str = "http://127.0.0.1:8102/EWS/Exchange.asmx"
    ews_username: str = "fieldsync-svc@sandbox.local"
    ews_password: SecretStr = SecretStr(SANDBOX_EXCHANGE_PASSWORD)
    ews_max_workers: int = 8


class ConflictLogSettings(Base):
    """How long and how many conflicts the conflict log keeps (the policy worker writes it, the admin API reads)."""

    conflict_retention_days: float = Field(default=30.0, gt=0)
    conflict_max_entries: int = Field(default=100_000, ge=1)

    @property
    def conflict_retention_s(self) -> float:
        return self.conflict_retention_days * 86_400


class ExplainLogSettings(Base):
    """What the explain log keeps per item and mailbox: the last N decisions, none older than the retention
    (the recorder writes it, the admin API reads it)."""

    explain_max_per_item: int = Field(default=50, ge=1, le=10_000)
    explain_retention_days: float = Field(default=7.0, gt=0)

    @property
    def explain_retention_s(self) -> float:
        return self.explain_retention_days * 86_400


class DeadLetterLogSettings(Base):
    """How many dead letters are kept and for how long (the recorder writes them, the admin API lists them)."""

    deadletter_max_entries: int = Field(default=100_000, ge=1)
    deadletter_retention_days: float = Field(default=14.0, gt=0)

    @property
    def deadletter_retention_s(self) -> float:
        return self.deadletter_retention_days * 86_400


class ChangeWindowSettings(Base):
    """The change window (shared.change_window): the policy records its last decided changes with their facts, the
    preview and the sync-time test read them. It holds the last N changes or the last H hours, whichever is fewer;
    0 entries records nothing."""

    change_window_max_entries: int = Field(default=5000, ge=0, le=1_000_000)
    change_window_hours: float = Field(default=24.0, gt=0)

    @property
    def change_window_max_age_s(self) -> float:
        return self.change_window_hours * 3600


class AttachmentSettings(Base):
    """Appointment attachments (shared.attachments): the largest file fieldsync copies (Dynamics' default
    maxuploadfilesize, 5 MiB; a larger one is dead-lettered by the applier with its size), and how long the
    captured bytes wait in Redis for the other side's applier."""

    attachment_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    attachment_content_ttl_days: float = Field(default=7.0, gt=0)

    @property
    def attachment_content_ttl_s(self) -> int:
        return int(self.attachment_content_ttl_days * 86_400)


class FailureSettings(Base):
    # A consumed event whose handling fails deterministically (not an outage: shared.failures) this many
    # times in a row goes to the dead-letter topic and the partition moves on. Outages are retried forever.
    dead_letter_after_attempts: int = Field(default=3, ge=1)


class MetricsSettings(Base):
    """Where each service serves Prometheus /metrics: one port per service, all known to every service (the admin
    API scrapes them for its dashboard). 127.0.0.1 by default; compose sets FIELDSYNC_METRICS_HOST=0.0.0.0."""

    metrics_host: str = "127.0.0.1"
    crm_capture_metrics_port: int = 9181
    exchange_capture_metrics_port: int = 9182
    policy_metrics_port: int = 9183
    crm_applier_metrics_port: int = 9184
    exchange_applier_metrics_port: int = 9185
    admin_api_metrics_port: int = 9186
    recorder_metrics_port: int = 9187
    # Per-mailbox series (capture cursor age) for at most this many mailboxes; the rest as mailbox="_other".
    metrics_mailbox_series_cap: int = Field(default=50, ge=0)

    def metrics_port(self, service: str) -> int:
        port: int = getattr(self, f"{service}_metrics_port")
        return port


METRICS_SERVICES = (
    "crm_capture", "exchange_capture", "policy", "crm_applier", "exchange_applier", "admin_api", "recorder",
)  # fmt: skip


class BusSettings(KafkaSettings, RedisSettings, FailureSettings, MetricsSettings, AttachmentSettings):
    """What every pipeline service needs: the broker, Redis, how often a failing event is tried, its /metrics."""


def refuse_placeholders(settings: Base, *secrets: SecretStr) -> None:
    """Outside the sandbox, placeholder secrets are a misconfiguration: refuse to start."""
    if settings.sandbox:
        return
    if any(secret.get_secret_value() in PLACEHOLDER_SECRETS for secret in secrets):
        raise ValueError(
            "a sandbox placeholder secret is configured while FIELDSYNC_SANDBOX=false; "
            "set real credentials (see infra/env/example.env)"
        )
