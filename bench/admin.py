"""The admin API as the benchmarks use it: conflict rules on every entity, the conflict log, a verify job.

Lifecycle: `async with AdminApi(stack.settings.admin_root) as admin:` opens one HTTP client with the sandbox's
placeholder tokens (the admin one for changes, the viewer one for reads) and closes it on leaving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from shared.events import ConflictRecord, ConflictRule
from shared.settings import SANDBOX_ADMIN_TOKEN, SANDBOX_VIEWER_TOKEN

PAGE = 500  # the conflicts route's largest page


class VerifyFailed(RuntimeError):
    """The verify job failed, or did not finish in time."""


class AdminApi:
    def __init__(self, root: str, timeout_s: float = 30.0) -> None:
        self._http = httpx.AsyncClient(base_url=f"{root}/api/v1", timeout=timeout_s)
        self._admin = {"Authorization": f"Bearer {SANDBOX_ADMIN_TOKEN}"}
        self._viewer = {"Authorization": f"Bearer {SANDBOX_VIEWER_TOKEN}"}

    async def __aenter__(self) -> AdminApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, headers: dict[str, str], **options: Any) -> Any:
        response = await self._http.request(method, path, headers=headers, **options)
        response.raise_for_status()
        return response.json()

    async def set_rule_everywhere(self, rule: ConflictRule) -> int:
        """Set `rule` on every entity; returns the policy version after the last change."""
        version = 0
        for entity in await self._json("GET", "/entities", self._viewer):
            result = await self._json("PUT", f"/entities/{entity['name']}/conflict-rule", self._admin,
                                      json={"rule": rule})
            version = int(result["version"])
        return version

    async def conflicts(self, since: datetime | None = None) -> list[ConflictRecord]:
        """Every recorded conflict decided at or after `since`, newest first (all pages)."""
        found: list[ConflictRecord] = []
        params: dict[str, Any] = {"limit": PAGE} | ({"since": since.isoformat()} if since else {})
        while True:
            page = await self._json("GET", "/conflicts", self._viewer, params={**params, "offset": len(found)})
            found += [ConflictRecord.model_validate(item) for item in page["conflicts"]]
            if not page["conflicts"] or len(found) >= page["total"]:
                return found

    async def verify(self, timeout_s: float, progress: Callable[[str], None] = print) -> dict[str, Any]:
        """Run a verify job of every linked pair and return its report (consistent, differences, missing, ...)."""
        job = await self._json("POST", "/verify", self._admin, json={})
        deadline, shown = time.monotonic() + timeout_s, ""
        while job["state"] == "running":
            if time.monotonic() > deadline:
                raise VerifyFailed(f"verify job {job['job_id']} still running after {timeout_s:.0f}s")
            line = f"verify: {job['progress']['checked']} of {job['progress']['total'] or '?'} pairs checked"
            if line != shown:
                progress(f"  {line}")
                shown = line
            await asyncio.sleep(0.5)
            job = await self._json("GET", f"/verify/{job['job_id']}", self._viewer)
        if job["state"] != "done":
            raise VerifyFailed(f"verify job {job['job_id']} {job['state']}: {job.get('reason')}")
        report: dict[str, Any] = job["report"]
        return report
