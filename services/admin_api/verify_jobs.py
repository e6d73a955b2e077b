"""Verify jobs: each lists the links, reads both sides and compares them, in a task of the admin API process.

Jobs live in memory only (the last `keep` of them): a restart of the admin API forgets them, and a running
job ends with it. Lifecycle: `start` records the job and launches its task; the task updates the job's
progress as batches complete and ends it as done (with the report) or failed (with the reason); `close`
cancels the running ones (failed: "the admin API stopped").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.admin_api.job_tasks import cancel_running, settle
from services.admin_api.verify import Findings, Reading, build_report, compare, flows
from services.admin_api.verify_reader import LinkIndex, SideReader
from services.admin_api.verify_schemas import JobState, Progress, VerifyJob, VerifyReport, VerifyRequest
from shared.catalogue import Catalogue
from shared.events import Policy

log = logging.getLogger("fieldsync.admin_api.verify")


@dataclass
class Job:
    """One job's mutable state; `view` is what the API answers."""

    job_id: str
    request: VerifyRequest
    started_at: datetime
    state: JobState = "running"
    checked: int = 0
    total: int | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    report: VerifyReport | None = None

    def view(self) -> VerifyJob:
        return VerifyJob(
            job_id=self.job_id, state=self.state, entity=self.request.entity, mailbox=self.request.mailbox,
            started_at=self.started_at, finished_at=self.finished_at,
            progress=Progress(checked=self.checked, total=self.total), reason=self.reason, report=self.report,
        )


@dataclass(frozen=True)
class Verifier:
    """One verification: links from Redis, both sides through the protocols, the pure comparison."""

    links: LinkIndex
    reader: SideReader
    catalogue: Catalogue
    entities: frozenset[str]  # the entities the Exchange client can read (no others can be linked)

    async def run(self, job: Job, policy: Policy) -> VerifyReport:
        wanted = self.entities if job.request.entity is None else self.entities & {job.request.entity}
        pairs = await self.links.pairs(wanted, job.request.mailbox)
        job.total = len(pairs)
        untracked = await self.links.untracked(pairs)
        fields = {entity: flows(self.catalogue.entities[entity], policy) for entity in wanted}
        findings: list[Findings] = []

        def done(readings: list[Reading]) -> None:
            findings.extend(compare(reading, fields[reading.pair.entity]) for reading in readings)
            job.checked += len(readings)

        await self.reader.read(pairs, untracked, done)
        return build_report(findings, len(pairs), len(untracked), policy.version)


class TooManyJobs(Exception):
    """Every kept job is still running: a new one would push out a job someone is waiting for."""


@dataclass
class VerifyJobs:
    """The last `keep` jobs, newest last; finished jobs make room for new ones, oldest first."""

    run: Callable[[Job, Policy], Awaitable[VerifyReport]]
    keep: int
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    jobs: dict[str, Job] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, request: VerifyRequest, policy: Policy) -> VerifyJob:
        if len(self.jobs) >= self.keep:
            finished = [job_id for job_id, job in self.jobs.items() if job.state != "running"]
            if len(self.jobs) - len(finished) >= self.keep:
                raise TooManyJobs(f"{self.keep} verify jobs are running; wait for one to finish")
            for job_id in finished[: len(self.jobs) - self.keep + 1]:
                del self.jobs[job_id]
        job = Job(self.new_id(), request, self.clock())
        self.jobs[job.job_id] = job
        self.tasks[job.job_id] = asyncio.create_task(self._execute(job, policy), name=f"verify-{job.job_id}")
        return job.view()

    def get(self, job_id: str) -> VerifyJob | None:
        job = self.jobs.get(job_id)
        return None if job is None else job.view()

    async def _execute(self, job: Job, policy: Policy) -> None:
        def keep(report: VerifyReport) -> None:
            job.report = report

        await settle(job, self.run(job, policy), keep, self.clock, self.tasks, log)

    async def close(self) -> None:
        """Cancel the running jobs and wait for them to end."""
        await cancel_running(self.jobs.values(), self.tasks, self.clock)
