"""Serve the sandbox Exchange server: `python -m infra.sandbox.exchange`."""

from __future__ import annotations

import uvicorn

from infra.sandbox.exchange.app import create_app
from infra.sandbox.exchange.settings import ExchangeSandboxSettings


def main() -> None:
    settings = ExchangeSandboxSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.exchange_sandbox_host,
        port=settings.exchange_sandbox_port,
        log_level=settings.log_level.lower(),
        # One INFO line per request cost CPU and filled the stack's logs (about 500 lines per 30 s under
        # traffic); errors are still logged.
        access_log=False,
    )


if __name__ == "__main__":
    main()
