"""Admin API configuration: where it listens, its tokens, how hard it publishes, the conflict log, verify's reads."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, TypeAdapter, field_validator

from services.admin_api.tokens import SANDBOX_TOKENS, TokenRecord, check_tokens
from shared import topics
from shared.settings import (
    METRICS_SERVICES,
    BusSettings,
    ConflictLogSettings,
    CrmSettings,
    DeadLetterLogSettings,
    ExchangeSettings,
    ExplainLogSettings,
)

_RECORDS = TypeAdapter(list[TokenRecord])


class AdminApiSettings(
    BusSettings, ConflictLogSettings, ExplainLogSettings, DeadLetterLogSettings, CrmSettings, ExchangeSettings
):
    admin_api_host: str = "127.0.0.1"
    admin_api_port: int = 8000
    # JSON list of {"name", "role": "admin"|"viewer", "sha256": hex digest of the token}.
    admin_tokens: list[TokenRecord] | None = None
    # A file holding the same JSON list (mounted secret); its records add to admin_tokens.
    admin_tokens_file: Path | None = None
    policy_publish_attempts: int = 3
    policy_publish_timeout_s: float = 5.0
    policy_publish_backoff_s: float = 0.2
    readiness_timeout_s: float = 2.0
    # Where the policy service answers previews (its faust web server: FIELDSYNC_POLICY_WEB_ENABLED, _PORT) and how
    # long a replay of the change window may take.
    policy_preview_url: str = "http://127.0.0.1:6066"
    policy_preview_timeout_s: float = Field(default=60.0, gt=0)
    # `verify` reads both sides of the linked pairs in batches of one entity and mailbox (one Web API query
    # and one EWS GetItem each), this many batches at once; the last verify_jobs_kept jobs stay in memory.
    verify_batch_size: int = Field(default=50, ge=1, le=200)
    verify_concurrency: int = Field(default=4, ge=1, le=64)
    verify_jobs_kept: int = Field(default=10, ge=1, le=1000)
    # POST /api/v1/policy/test starts a whole isolated embedded stack (python -m infra.policytest) on this machine;
    # false answers 503 (a deployment where the admin API must not start processes).
    policy_test_enabled: bool = True
    # Consumer lag is measured for these groups (group id -> the short names of the topics it consumes), once
    # every lag_interval_s, from outside the groups (services/admin_api/lag.py).
    lag_groups: dict[str, list[str]] = {
        "fieldsync-policy": ["crm.changes", "exchange.changes"],
        "fieldsync-crm-applier": ["deltas.crm"],
        "fieldsync-exchange-applier": ["deltas.exchange"],
    }
    lag_interval_s: float = Field(default=1.0, gt=0)
    # The dashboard's latency percentiles and error counts cover the last dashboard_window_s seconds.
    dashboard_window_s: float = Field(default=300.0, gt=0)
    # Comma list of service=URL of each service's /metrics that the dashboard scrapes; empty: every service on
    # 127.0.0.1 at its FIELDSYNC_<SERVICE>_METRICS_PORT (the embedded stack). Compose names its containers.
    dashboard_metrics_urls: str = ""

    @field_validator("lag_groups")
    @classmethod
    def _known_topics(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        known = {topic.name for topic in topics.ALL}
        unknown = sorted({name for names in groups.values() for name in names} - known)
        if unknown:
            raise ValueError(f"FIELDSYNC_LAG_GROUPS names unknown topics: {unknown}; known: {sorted(known)}")
        return groups

    def metrics_targets(self) -> dict[str, str]:
        """service -> /metrics URL of every service but the admin API (its own registry is read directly)."""
        if self.dashboard_metrics_urls.strip():
            pairs = [part.split("=", 1) for part in self.dashboard_metrics_urls.split(",") if "=" in part]
            return {name.strip(): url.strip() for name, url in pairs}
        return {name: f"http://127.0.0.1:{self.metrics_port(name)}/metrics"
                for name in METRICS_SERVICES if name != "admin_api"}  # fmt: skip

    def token_records(self) -> tuple[TokenRecord, ...]:
        """The configured tokens, or the sandbox's two placeholder tokens when none are configured.

        Raises ValueError for an unreadable file or a configuration refused by check_tokens.
        """
        records = list(self.admin_tokens or [])
        if self.admin_tokens_file is not None:
            try:
                text = self.admin_tokens_file.read_text(encoding="utf-8")
                records += _RECORDS.validate_python(json.loads(text))
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read FIELDSYNC_ADMIN_TOKENS_FILE {self.admin_tokens_file}: {exc}") from exc
        if self.admin_tokens is None and self.admin_tokens_file is None:
            records = list(SANDBOX_TOKENS)
        result = tuple(records)
        check_tokens(result, self.sandbox)
        return result
