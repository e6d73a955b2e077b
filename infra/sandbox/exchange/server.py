"""Run the Exchange sandbox in a background thread: for tests and the embedded stack runner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from infra.sandbox.exchange.app import EWS_PATH, create_app
from infra.sandbox.exchange.settings import ExchangeSandboxSettings
from infra.sandbox.serving import ServedApp


@dataclass(frozen=True)
class ExchangeSandboxUrls:
    """Where a running Exchange sandbox answers."""

    root: str  # http://127.0.0.1:<port>
    ews_url: str  # <root>/EWS/Exchange.asmx
    mailboxes_url: str  # <root>/_sandbox/mailboxes
    faults_url: str  # <root>/_sandbox/faults
    expire_sync_states_url: str  # <root>/_sandbox/sync-states/expire (POST: every issued SyncState expires)


@contextmanager
def serve_exchange(
    settings: ExchangeSandboxSettings | None = None, port: int | None = None
) -> Iterator[ExchangeSandboxUrls]:
    """Serve an Exchange sandbox for the block; `port=0` picks a free port (default: the settings' port)."""
    settings = settings or ExchangeSandboxSettings()
    served = ServedApp(
        create_app(settings),
        host=settings.exchange_sandbox_host,
        port=settings.exchange_sandbox_port if port is None else port,
    )
    root = served.start()
    try:
        yield ExchangeSandboxUrls(
            root=root,
            ews_url=root + EWS_PATH,
            mailboxes_url=root + "/_sandbox/mailboxes",
            faults_url=root + "/_sandbox/faults",
            expire_sync_states_url=root + "/_sandbox/sync-states/expire",
        )
    finally:
        served.stop()
