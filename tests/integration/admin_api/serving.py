"""Test support for the admin API: per-test tokens, settings on the session's Redis and broker, serving."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from services.admin_api.main import create_app
from services.admin_api.settings import AdminApiSettings
from services.admin_api.tokens import TokenRecord, hash_token
from tests.support import free_port


@dataclass(frozen=True)
class Tokens:
    """Unique tokens and actor names per test, so events and history entries are attributable."""

    admin: str
    admin_name: str
    viewer: str
    viewer_name: str

    @classmethod
    def fresh(cls) -> Tokens:
        tag = uuid.uuid4().hex[:10]
        return cls(f"adm-{uuid.uuid4().hex}", f"admin-{tag}", f"view-{uuid.uuid4().hex}", f"viewer-{tag}")

    def records(self) -> list[TokenRecord]:
        return [
            TokenRecord(name=self.admin_name, role="admin", sha256=hash_token(self.admin)),
            TokenRecord(name=self.viewer_name, role="viewer", sha256=hash_token(self.viewer)),
        ]


def admin_settings(redis_url: str, bootstrap: str, tokens: Tokens, **overrides: object) -> AdminApiSettings:
    return AdminApiSettings(
        redis_url=redis_url, bootstrap_servers=bootstrap, admin_tokens=tokens.records(), **overrides
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def serve(settings: AdminApiSettings) -> Iterator[str]:
    """Serve the app with uvicorn on a free port in a thread; yields its base URL; stops it on exit."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"admin-api-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the admin API did not start")
            time.sleep(0.02)
        assert httpx.get(f"{url}/healthz").status_code == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
