"""The built-in dashboard in headless Chromium on the whole embedded stack: the page takes the viewer token from
the URL fragment into sessionStorage, shows live numbers that change while the traffic generator runs, and a
screenshot is kept in tests/browser/screenshots/dashboard.png (gitignored: a test artefact)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.runner.stack import Stack
from infra.sandbox.traffic import run_traffic
from shared.settings import SANDBOX_VIEWER_TOKEN
from tests.browser.cdp import Browser, chromium_binary
from tests.e2e.conftest import stack_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (make chromium installs it)"),
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
NUMBERS = """(() => !document.getElementById("updated") ? null : ({
  updated: document.getElementById("updated").textContent,
  writes: Number(document.getElementById("total-writes").textContent),
  decisions: Number(document.getElementById("total-decisions").textContent),
  lagGroups: document.querySelectorAll("#lag tbody tr").length,
  latencyRows: document.querySelectorAll("#latency tbody tr").length,
  mailboxRows: document.querySelectorAll("#mailboxes tbody tr").length,
  loginShown: getComputedStyle(document.getElementById("login")).display !== "none",
  hash: location.hash,
  stored: sessionStorage.getItem("fieldsync.viewerToken"),
}))()"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(stack_settings(tmp_path_factory)) as running:
        yield running


Numbers = dict[str, Any]


async def until(browser: Browser, holds: Callable[[Numbers], bool], timeout: float, what: str) -> Numbers:
    """Poll the page's numbers until `holds` is true of them, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    numbers: Numbers = {}
    while time.monotonic() < deadline:
        numbers = await browser.evaluate(NUMBERS) or {}  # None while the page is still loading
        if numbers and holds(numbers):
            return numbers
        await asyncio.sleep(0.5)
    raise AssertionError(f"not within {timeout}s: {what} (last: {numbers})")


async def test_the_dashboard_shows_live_numbers_while_traffic_runs(stack: Stack, tmp_path: Path) -> None:
    url = f"{stack.urls['dashboard']}#token={SANDBOX_VIEWER_TOKEN}"
    browser = await Browser.open(url, tmp_path / "profile")
    try:
        first = await until(browser, lambda n: n["updated"] not in ("never", "") and n["lagGroups"] == 3, 60,
                            "the page's first refresh with the three consumer groups")  # fmt: skip
        assert first["hash"] == "" and first["stored"] == SANDBOX_VIEWER_TOKEN  # the token left the address bar
        assert not first["loginShown"]
        traffic = asyncio.create_task(run_traffic(stack.settings.client_settings(), rate=4, duration=15,
                                                  seed=7, progress=lambda _: None))  # fmt: skip
        try:
            def counted_up(n: Numbers) -> bool:
                return bool(n["writes"] > first["writes"] and n["decisions"] > first["decisions"])

            later = await until(browser, counted_up, 60, "writes and decisions counted up on the open page")
            moving = await until(browser, lambda n: n["writes"] > later["writes"] and n["updated"] != later["updated"],
                                 60, "the numbers still moving a refresh later")  # fmt: skip
        finally:
            report = await traffic
        assert report.changes
        assert moving["latencyRows"] >= 1 and moving["mailboxRows"] >= 3
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / "dashboard.png").write_bytes(await browser.screenshot())
    finally:
        await browser.close()


async def test_without_a_token_the_page_asks_for_one(stack: Stack, tmp_path: Path) -> None:
    browser = await Browser.open(stack.urls["dashboard"], tmp_path / "profile")
    try:
        numbers = await until(browser, lambda n: bool(n["loginShown"]), 30, "the token form")
        assert numbers["updated"] == "never" and numbers["stored"] is None
    finally:
        await browser.close()
