"""The sync-time test jobs (services/admin_api/policy_test_jobs.py): one at a time, progress, report, failure, stop;
and the request body's validation (policy_test_schemas.py)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from infra.policytest import run
from infra.sandbox.traffic_shape import DEFAULT
from services.admin_api.policy_test_jobs import Busy, PolicyTestJobs, _follow, _stop
from services.admin_api.policy_test_schemas import PolicyTestJob, PolicyTestRequest
from tests.policy_builders import policy
from tests.policy_test_fakes import Launches, a_report
from tests.support import eventually_async

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REQUEST = run.PolicyTestRequest(current=policy(), candidate=policy(contact__description="none"), shape=DEFAULT,
                                rate=2.0, duration_s=5.0, target_p99_s=1.5)  # fmt: skip


def make_jobs(launches: Launches) -> PolicyTestJobs:
    counter = itertools.count(1)
    return PolicyTestJobs(launches, lambda: NOW, lambda: f"t{next(counter)}", keep=2)


async def state(jobs: PolicyTestJobs, job_id: str, wanted: str) -> PolicyTestJob:
    async def reached() -> PolicyTestJob | None:
        job = jobs.get(job_id)
        return job if job is not None and job.state == wanted else None

    return await eventually_async(reached, timeout=5, what=f"job {job_id} {wanted}")


async def test_a_job_shows_its_progress_then_its_report() -> None:
    launches = Launches()
    jobs = make_jobs(launches)
    started = jobs.start(REQUEST)
    assert (started.state, started.current_version, started.rate, started.duration_s, started.p99_s) == (
        "running", 7, 2.0, 5.0, 1.5)

    async def progressed() -> bool:
        job = jobs.get(started.job_id)
        return job is not None and job.progress.share == 0.4

    await eventually_async(progressed, timeout=5, what="progress")
    assert jobs.get(started.job_id).progress.stage == "current policy (version 7): traffic"  # type: ignore[union-attr]
    launches.release.set()
    done = await state(jobs, started.job_id, "done")
    assert done.report == a_report() and done.progress.share == 1.0 and done.finished_at == NOW
    assert launches.calls == [REQUEST]


async def test_one_job_at_a_time() -> None:
    launches = Launches()
    jobs = make_jobs(launches)
    first = jobs.start(REQUEST)
    with pytest.raises(Busy, match=f"{first.job_id} is running"):
        jobs.start(REQUEST)
    launches.release.set()
    await state(jobs, first.job_id, "done")
    second = jobs.start(REQUEST)  # a finished job makes room
    assert second.job_id != first.job_id and second.state == "running"
    await jobs.close()


async def test_a_failed_test_ends_its_job_with_the_reason() -> None:
    launches = Launches()
    launches.failure = RuntimeError("PolicyTestFailed: the isolated stack's policy died")
    jobs = make_jobs(launches)
    started = jobs.start(REQUEST)
    launches.release.set()
    failed = await state(jobs, started.job_id, "failed")
    assert failed.reason == "RuntimeError: PolicyTestFailed: the isolated stack's policy died" and failed.report is None


async def test_stopping_the_api_fails_the_running_job() -> None:
    jobs = make_jobs(Launches())
    started = jobs.start(REQUEST)
    await jobs.close()
    job = jobs.get(started.job_id)
    assert job is not None and (job.state, job.reason) == ("failed", "the admin API stopped") and not jobs.tasks


async def test_only_the_last_jobs_are_kept() -> None:
    launches = Launches()
    launches.release.set()
    jobs = make_jobs(launches)
    ids = []
    for _ in range(3):
        ids.append(jobs.start(REQUEST).job_id)
        await state(jobs, ids[-1], "done")
    assert jobs.get(ids[0]) is None and jobs.get(ids[2]) is not None


def test_the_request_body_defaults() -> None:
    body = PolicyTestRequest()
    assert (body.rate, body.duration_s, body.p99_s, body.seed, body.changes) == (None, 20.0, 2.0, 7, [])


@pytest.mark.parametrize("body", [
    {"rate": 0}, {"rate": 500}, {"duration_s": 0.5}, {"duration_s": 601}, {"p99_s": 0}, {"p99_s": -1},
    {"changes": [{"entity": "contact", "field": "description", "direction": "sideways"}]},
    {"surprise": True},
])  # fmt: skip
def test_the_request_body_is_validated(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PolicyTestRequest.model_validate(body)


async def lines_of(*lines: str) -> asyncio.subprocess.Process:
    """A real process that prints these lines, as `python -m infra.policytest` prints its own."""
    script = "import sys\nfor line in sys.argv[1:]: print(line, flush=True)"
    return await asyncio.create_subprocess_exec(sys.executable, "-c", script, *lines, stdout=asyncio.subprocess.PIPE)


async def test_the_job_follows_the_processs_progress_lines_to_its_report() -> None:
    seen: list[tuple[float, str]] = []
    process = await lines_of('{"progress": 0.1, "stage": "starting"}', "not json", '{"progress": 0.5, "stage": "x"}',
                             json.dumps({"report": a_report().model_dump(mode="json")}))  # fmt: skip
    assert await _follow(process, lambda share, stage: seen.append((share, stage))) == a_report()
    assert seen == [(0.1, "starting"), (0.5, "x")]
    await _stop(process)
    assert process.returncode is not None  # reaped (SIGTERM if it had not ended yet)


async def test_an_error_line_fails_the_job_and_no_report_is_none() -> None:
    failing = await lines_of('{"error": "PolicyTestFailed: broker died"}')
    with pytest.raises(RuntimeError, match="broker died"):
        await _follow(failing, lambda share, stage: None)
    await _stop(failing)
    silent = await lines_of('{"progress": 0.2, "stage": "starting"}')
    assert await _follow(silent, lambda share, stage: None) is None
    await _stop(silent)
