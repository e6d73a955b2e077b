"""`python -m services.admin_api`: serve the admin API on the configured host and port with uvicorn.

Logging is the services' own (shared.runtime.configure_logging): one format, secrets and bearer tokens masked
in every line. uvicorn is told not to configure logging, so its loggers propagate to that handler too.
Requests are not logged line by line (no access log).
"""

from __future__ import annotations

import sys

import uvicorn

from services.admin_api.settings import AdminApiSettings
from shared.runtime import configure_logging


def serve() -> None:
    """Serve until interrupted; a refused configuration exits with its reason (status 1)."""
    settings = AdminApiSettings()
    configure_logging(settings)
    # Check the tokens before uvicorn starts, so a refused configuration is one clear line, not a
    # traceback from inside the server's factory call.
    try:
        settings.token_records()
    except ValueError as exc:
        sys.exit(f"fieldsync admin API refuses to start: {exc}")
    uvicorn.run(
        "services.admin_api.main:create_app",
        factory=True,
        host=settings.admin_api_host,
        port=settings.admin_api_port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


if __name__ == "__main__":
    serve()
