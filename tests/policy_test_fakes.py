"""A fake of the sync-time test process (the admin API job's launch port) and a report it answers."""

from __future__ import annotations

import asyncio

from infra.policytest import run
from infra.policytest.report import PolicyTestReport, phase, verdict
from infra.sandbox.traffic_shape import DEFAULT


def a_report() -> PolicyTestReport:
    current, candidate = phase("current", 7, 0, [], 5.0, []), phase("candidate", 8, 0, [], 5.0, [])
    return PolicyTestReport(rate=2, duration_s=5, seed=7, shape=DEFAULT, current=current, candidate=candidate,
                            explanations=[], verdict=verdict(current, candidate, 1.5))  # fmt: skip


class Launches:
    """A fake test process: reports progress, then waits until the test releases it and reports or fails."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.failure: Exception | None = None
        self.calls: list[run.PolicyTestRequest] = []

    async def __call__(self, request: run.PolicyTestRequest, progress: run.Progress) -> PolicyTestReport:
        self.calls.append(request)
        progress(0.4, "current policy (version 7): traffic")
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return a_report()
