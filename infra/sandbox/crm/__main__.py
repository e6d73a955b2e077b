"""`python -m infra.sandbox.crm`: serve the sandbox Web API with uvicorn until Ctrl-C."""

from __future__ import annotations

import uvicorn

from infra.sandbox.crm.app import create_app
from infra.sandbox.crm.settings import CrmSandboxSettings


def main() -> None:
    settings = CrmSandboxSettings()
    app = create_app(settings)
    print(f"CRM sandbox: {settings.base_url} (token: {settings.token_url}, state: {settings.db_path})")
    uvicorn.run(
        app,
        host=settings.crm_sandbox_host,
        port=settings.crm_sandbox_port,
        http="h11",  # the dropped-connection fault relies on uvicorn's h11 behaviour (see faults.py)
        log_level=settings.log_level.lower(),
        # One INFO line per request cost CPU and filled the stack's logs (about 500 lines per 30 s under
        # traffic); errors are still logged.
        access_log=False,
    )


if __name__ == "__main__":
    main()
