"""Serve an ASGI app with uvicorn in a background thread, for tests and the embedded stack.

    with serve(app, port=0) as base_url:      # "http://127.0.0.1:<free port>"
        httpx.get(base_url + "/...")

Lifecycle: `ServedApp.start()` binds the socket first (so port 0 picks a free port and the port is
known before the first request), runs uvicorn's own loop in a daemon thread and waits, with a
deadline, until uvicorn reports it started. `stop()` asks uvicorn to exit (it finishes in-flight
requests) and joins the thread. The h11 protocol is forced so fault injection behaves the same
whether or not httptools happens to be installed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


class ServedApp:
    """One uvicorn server on 127.0.0.1 (or `host`) in a background thread."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        self.app = app
        self.host = host
        self.requested_port = port
        self.log_level = log_level
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A restarted sandbox must be able to take the same port back at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, http="h11", lifespan="on", log_level=self.log_level, access_log=False
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"served-app-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the app did not start on {self.base_url}")
            time.sleep(0.01)
        return self.base_url

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout_s)
        self._server = None
        self._thread = None

    def __enter__(self) -> ServedApp:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` for the duration of the block; yields the base URL (no trailing slash)."""
    served = ServedApp(app, host=host, port=port)
    served.start()
    try:
        yield served.base_url
    finally:
        served.stop()
