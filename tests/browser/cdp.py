"""A small Chrome DevTools Protocol client: headless Debian chromium, one page, evaluate and screenshot.

Lifecycle: `Browser.open(url, profile_dir)` starts chromium headless on a free debugging port (port 0: chromium
picks one and says which on stderr), finds the page target and connects to it over a WebSocket (aiohttp, already
locked through faust); `evaluate` runs an expression in the page and returns its value; `screenshot` writes a
PNG; `close` closes the socket and kills chromium.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

_LISTENING = re.compile(rb"DevTools listening on (ws://[^\s]+)")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], session: aiohttp.ClientSession,
                 socket: aiohttp.ClientWebSocketResponse) -> None:  # fmt: skip
        self.process, self.session, self.socket = process, session, socket
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, url: str, profile_dir: Path, timeout: float = 30.0) -> Browser:
        process, endpoint = await asyncio.to_thread(start_chromium, url, profile_dir, timeout)
        try:
            port = int(endpoint.split(":")[2].split("/")[0])
            session = aiohttp.ClientSession()
            targets: list[dict[str, Any]] = []
            for _ in range(100):  # the page target appears once chromium opened the URL
                async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                    targets = [t for t in await answer.json() if t.get("type") == "page"]
                if targets:
                    break
                await asyncio.sleep(0.1)
            assert targets, "chromium opened no page"
            socket = await session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=64 * 2**20)
        except BaseException:
            process.kill()
            raise
        return cls(process, session, socket)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        await self.socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await self.socket.receive(timeout=30)).data)
            if message.get("id") == ident:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def screenshot(self) -> bytes:
        """The whole page as PNG bytes."""
        result = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(result["data"])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close()
        await self.session.close()
        self.process.kill()
        self.process.wait(10)


def start_chromium(url: str, profile_dir: Path, timeout: float) -> tuple[subprocess.Popen[bytes], str]:
    """chromium headless on `url`, and its browser WebSocket URL from the line it writes to stderr once it listens
    (stderr goes to a file, not a pipe: nothing blocks chromium on a full pipe; polled with a deadline)."""
    binary = chromium_binary()
    assert binary, "chromium is not installed (make chromium installs Debian's package)"
    profile_dir.mkdir(parents=True, exist_ok=True)
    log = profile_dir / "chromium.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={profile_dir}",
             "--window-size=1400,1100", url],
            stdout=subprocess.DEVNULL, stderr=output,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if match := _LISTENING.search(log.read_bytes()):
            return process, match.group(1).decode()
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"chromium ({process.poll()}) gave no debugging endpoint: {log.read_text(errors='replace')}")
