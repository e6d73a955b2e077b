"""Sync-time test jobs: one at a time, each a `python -m infra.policytest` process the admin API follows.

The test starts a whole embedded stack, whose children must be forked by a main thread (PR_SET_PDEATHSIG) and
which takes minutes: so it runs in a process of its own (tied to this one's life the same way), and the job
reads its progress lines and its report from that process's output. Jobs live in memory only (the last `keep`
of them). Lifecycle: `start` refuses (Busy) while a job runs, records the job and launches its task; the task
updates the job's progress as lines arrive and ends it done (with the report) or failed (with the reason);
`close` cancels a running job, whose process gets SIGTERM and stops its isolated stack before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from infra.policytest.report import PolicyTestReport
from infra.policytest.run import PolicyTestRequest
from infra.runner.lifeline import die_with_parent
from services.admin_api.job_tasks import cancel_running, settle
from services.admin_api.policy_test_schemas import PolicyTestJob, PolicyTestProgress
from services.admin_api.verify_schemas import JobState

log = logging.getLogger("fieldsync.admin_api.policy_test")
STOP_GRACE_S = 15.0  # the process stops its stack (about 3 s) before it exits; then it is killed
Progress = Callable[[float, str], None]
Launch = Callable[[PolicyTestRequest, Progress], Awaitable[PolicyTestReport]]


class Busy(Exception):
    """A sync-time test is running: two isolated stacks at once would measure each other."""


@dataclass
class Job:
    job_id: str
    request: PolicyTestRequest
    started_at: datetime
    state: JobState = "running"
    share: float = 0.0
    stage: str = "queued"
    finished_at: datetime | None = None
    reason: str | None = None
    report: PolicyTestReport | None = None

    def view(self) -> PolicyTestJob:
        r = self.request
        return PolicyTestJob(
            job_id=self.job_id, state=self.state, started_at=self.started_at, finished_at=self.finished_at,
            current_version=r.current.version, rate=r.rate, duration_s=r.duration_s, p99_s=r.target_p99_s,
            progress=PolicyTestProgress(share=self.share, stage=self.stage), reason=self.reason, report=self.report,
        )  # fmt: skip


@dataclass
class PolicyTestJobs:
    launch: Launch
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    keep: int = 10
    enabled: bool = True
    jobs: dict[str, Job] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, request: PolicyTestRequest) -> PolicyTestJob:
        running = next((job for job in self.jobs.values() if job.state == "running"), None)
        if running is not None:
            raise Busy(f"sync-time test {running.job_id} is running; one runs at a time")
        for job_id in list(self.jobs)[: max(0, len(self.jobs) - self.keep + 1)]:
            del self.jobs[job_id]
        job = Job(self.new_id(), request, self.clock())
        self.jobs[job.job_id] = job
        self.tasks[job.job_id] = asyncio.create_task(self._execute(job), name=f"policy-test-{job.job_id}")
        return job.view()

    def get(self, job_id: str) -> PolicyTestJob | None:
        job = self.jobs.get(job_id)
        return None if job is None else job.view()

    async def _execute(self, job: Job) -> None:
        def progress(share: float, stage: str) -> None:
            job.share, job.stage = share, stage

        def keep(report: PolicyTestReport) -> None:
            job.report, job.share, job.stage = report, 1.0, "done"

        await settle(job, self.launch(job.request, progress), keep, self.clock, self.tasks, log)

    async def close(self) -> None:
        """Cancel the running job and wait for it (and its process) to end."""
        await cancel_running(self.jobs.values(), self.tasks, self.clock)


async def in_process_of_its_own(request: PolicyTestRequest, progress: Progress) -> PolicyTestReport:
    """Run `python -m infra.policytest` on the request; its JSON lines are progress, then the report or an error."""
    with tempfile.TemporaryDirectory(prefix="fieldsync-policytest-job-") as folder:
        path = Path(folder) / "request.json"
        path.write_text(request.model_dump_json(), encoding="utf-8")
        log_path = Path(folder) / "stderr.log"
        with log_path.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "infra.policytest", str(path), stdout=asyncio.subprocess.PIPE, stderr=errors,
                preexec_fn=die_with_parent(),
            )  # fmt: skip
            try:
                report = await _follow(process, progress)
            finally:
                await _stop(process)
        if report is None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip()[-500:]
            raise RuntimeError(f"the sync-time test process ended without a report (exit {process.returncode})"
                               + (f": {tail}" if tail else ""))  # fmt: skip
        return report


async def _follow(process: asyncio.subprocess.Process, progress: Progress) -> PolicyTestReport | None:
    """Progress lines until the report (returned) or an error line (raised); None when the output just ends."""
    assert process.stdout is not None
    async for raw in process.stdout:
        with contextlib.suppress(ValueError):
            line = json.loads(raw)
            if "progress" in line:
                progress(float(line["progress"]), str(line.get("stage", "")))
            elif "report" in line:
                return PolicyTestReport.model_validate(line["report"])
            elif "error" in line:
                raise RuntimeError(str(line["error"]))
    return None


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (it stops its isolated stack first), SIGKILL after STOP_GRACE_S; always reaped."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    await process.wait()
