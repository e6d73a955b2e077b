"""Configuration of the sandbox Exchange server (env prefix FIELDSYNC_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from infra.sandbox.faults import FaultKnobs
from shared.settings import SANDBOX_EXCHANGE_PASSWORD, Base


class ExchangeSandboxSettings(Base):
    """Where the sandbox listens, where it keeps its state, and the one service account it accepts."""

    exchange_sandbox_host: str = "127.0.0.1"
    exchange_sandbox_port: int = 8102
    exchange_sandbox_service_account: str = "fieldsync-svc@sandbox.local"
    exchange_sandbox_password: SecretStr = SecretStr(SANDBOX_EXCHANGE_PASSWORD)
    # JSON, e.g. FIELDSYNC_EXCHANGE_SANDBOX_FAULTS='{"latency_ms": 50}'; changeable live via /_sandbox/faults.
    exchange_sandbox_faults: FaultKnobs = FaultKnobs()

    @property
    def database_path(self) -> Path:
        return self.data_dir / "sandbox" / "exchange.sqlite3"
