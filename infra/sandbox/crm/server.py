"""Run the CRM sandbox in a background thread: for tests and the embedded stack runner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from infra.sandbox.crm.app import create_app
from infra.sandbox.crm.settings import API_PATH, TOKEN_PATH, CrmSandboxSettings
from infra.sandbox.serving import ServedApp


@dataclass(frozen=True)
class CrmSandboxUrls:
    """Where a running CRM sandbox answers."""

    root: str  # http://127.0.0.1:<port>
    api_url: str  # <root>/api/data/v9.2/
    token_url: str  # <root>/oauth2/token
    faults_url: str  # <root>/_sandbox/faults
    expire_tracking_url: str  # <root>/_sandbox/tracking/expire (POST: every delta token issued so far expires)
    application_user_id: str


@contextmanager
def serve_crm(settings: CrmSandboxSettings | None = None, port: int | None = None) -> Iterator[CrmSandboxUrls]:
    """Serve a CRM sandbox for the block; `port=0` picks a free port (default: the settings' port)."""
    settings = settings or CrmSandboxSettings()
    app = create_app(settings)
    served = ServedApp(app, host=settings.crm_sandbox_host, port=settings.crm_sandbox_port if port is None else port)
    root = served.start()
    try:
        yield CrmSandboxUrls(
            root=root,
            api_url=root + API_PATH,
            token_url=root + TOKEN_PATH,
            faults_url=root + "/_sandbox/faults",
            expire_tracking_url=root + "/_sandbox/tracking/expire",
            application_user_id=app.state.application_user_id,
        )
    finally:
        served.stop()
