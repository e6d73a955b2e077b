"""The in-memory verify jobs: states, reasons, the bound on how many are kept, and shutdown."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest

from services.admin_api.verify_jobs import Job, TooManyJobs, VerifyJobs
from services.admin_api.verify_schemas import VerifyReport, VerifyRequest
from shared.catalogue import load_catalogue
from shared.events import Policy
from tests.support import eventually_async

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
POLICY = Policy(version=4, updated_at=NOW, updated_by="t", directions=load_catalogue().default_directions())


class Runs:
    """A fake verification per job: it waits until the test releases it, then reports or fails."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.failures: dict[str, Exception] = {}

    async def __call__(self, job: Job, policy: Policy) -> VerifyReport:
        job.total = 3
        job.checked = 1
        await self.release.setdefault(job.job_id, asyncio.Event()).wait()
        if job.job_id in self.failures:
            raise self.failures[job.job_id]
        return VerifyReport(pairs_checked=3, consistent=True, policy_version=policy.version, untracked=0,
                            differences=[], missing=[], one_way_differences=[])

    def finish(self, job_id: str) -> None:
        self.release.setdefault(job_id, asyncio.Event()).set()


def make_jobs(runs: Runs, keep: int = 2) -> VerifyJobs:
    counter = itertools.count(1)
    return VerifyJobs(runs, keep, lambda: NOW, lambda: f"job-{next(counter)}")


async def settle(jobs: VerifyJobs, job_id: str) -> None:
    task = jobs.tasks.get(job_id)
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), timeout=5)


async def test_a_job_runs_then_is_done_with_its_report() -> None:
    runs = Runs()
    jobs = make_jobs(runs)
    started = jobs.start(VerifyRequest(entity="contact"), POLICY)
    assert started.state == "running" and started.entity == "contact" and started.report is None

    async def progressed() -> bool:
        running = jobs.get(started.job_id)
        return running is not None and (running.progress.checked, running.progress.total) == (1, 3)

    await eventually_async(progressed, timeout=5, what="the job's progress")
    assert jobs.get(started.job_id).state == "running"  # type: ignore[union-attr]
    runs.finish(started.job_id)
    await settle(jobs, started.job_id)
    done = jobs.get(started.job_id)
    assert done is not None and done.state == "done" and done.finished_at == NOW
    assert done.report is not None and done.report.policy_version == 4


async def test_a_failing_job_is_failed_with_its_reason() -> None:
    runs = Runs()
    jobs = make_jobs(runs)
    job_id = jobs.start(VerifyRequest(), POLICY).job_id
    runs.failures[job_id] = RuntimeError("CRM 503: unavailable")
    runs.finish(job_id)
    await settle(jobs, job_id)
    failed = jobs.get(job_id)
    assert failed is not None and failed.state == "failed" and failed.reason == "RuntimeError: CRM 503: unavailable"
    assert failed.report is None


async def test_only_the_last_jobs_are_kept_and_running_ones_are_never_dropped() -> None:
    runs = Runs()
    jobs = make_jobs(runs, keep=2)
    first, second = (jobs.start(VerifyRequest(), POLICY).job_id for _ in range(2))
    with pytest.raises(TooManyJobs):
        jobs.start(VerifyRequest(), POLICY)
    runs.finish(first)
    await settle(jobs, first)
    third = jobs.start(VerifyRequest(), POLICY).job_id
    assert jobs.get(first) is None and jobs.get(second) is not None and jobs.get(third) is not None
    assert jobs.get("no-such-job") is None
    for job_id in (second, third):
        runs.finish(job_id)
        await settle(jobs, job_id)


async def test_close_cancels_the_running_jobs() -> None:
    runs = Runs()
    jobs = make_jobs(runs)
    job_id = jobs.start(VerifyRequest(), POLICY).job_id
    await jobs.close()
    stopped = jobs.get(job_id)
    assert stopped is not None and stopped.state == "failed" and stopped.reason == "the admin API stopped"
    assert jobs.tasks == {}

