"""What the admin API's background jobs (verify, sync-time test) share: ending a job by how its work ended, and
cancelling the running ones when the API stops. Jobs live in memory; their tasks in a dict by job id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Protocol, TypeVar

from services.admin_api.verify_schemas import JobState

T = TypeVar("T")
STOPPED = "the admin API stopped"


class JobRecord(Protocol):
    job_id: str
    state: JobState
    reason: str | None
    finished_at: datetime | None


async def settle(job: JobRecord, work: Awaitable[T], done: Callable[[T], None], clock: Callable[[], datetime],
                 tasks: dict[str, asyncio.Task[None]], log: logging.Logger) -> None:  # fmt: skip
    """Await the job's work: done (its result handed to `done`), failed with the reason, or failed STOPPED when
    cancelled; then the finish time, and the task forgotten."""
    try:
        done(await work)
        job.state = "done"
    except asyncio.CancelledError:
        job.state, job.reason = "failed", STOPPED
        raise
    except Exception as exc:  # any failure ends this job only, with its reason
        log.warning("job %s failed: %r", job.job_id, exc)
        job.state, job.reason = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        job.finished_at = clock()
        tasks.pop(job.job_id, None)


async def cancel_running(jobs: Iterable[JobRecord], tasks: dict[str, asyncio.Task[None]],
                         clock: Callable[[], datetime]) -> None:  # fmt: skip
    """Cancel the running jobs' tasks and wait for them to end."""
    running = list(tasks.values())
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for job in jobs:  # a task cancelled before it first ran never saw the cancellation
        if job.state == "running":
            job.state, job.reason, job.finished_at = "failed", STOPPED, clock()
    tasks.clear()
