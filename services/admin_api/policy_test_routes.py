"""The sync-time test routes: `POST /api/v1/policy/test` (admins) starts a job, `GET /api/v1/policy/test/{id}`.

The candidate is built and checked as the preview builds it (preview.candidate: 404 unknown entity or field, 409 a
fixed field or a direction a field may not take), the traffic's shape is read from this stack's change window
(read only), and the job runs the test on a stack of its own (policy_test_jobs.py). One job at a time: 409
while one runs. `policy_test_api(settings)` is included by main.create_app with one line.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Response
from redis.asyncio import Redis

from infra.policytest import run
from infra.sandbox.traffic_shape import shape_or_default
from services.admin_api.context import Admin, Context, current_principal
from services.admin_api.policy_test_jobs import Busy, PolicyTestJobs, in_process_of_its_own
from services.admin_api.policy_test_schemas import PolicyTestJob, PolicyTestRequest
from services.admin_api.preview import candidate
from services.admin_api.responses import error_responses
from services.admin_api.settings import AdminApiSettings
from shared.change_window import ChangeWindow

router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)], tags=["policy"])




def get_jobs(request: Request) -> PolicyTestJobs:
    jobs: PolicyTestJobs = request.app.state.policy_test_jobs
    return jobs


def get_window(request: Request) -> ChangeWindow:
    window: ChangeWindow = request.app.state.policy_test_window
    return window


Jobs = Annotated[PolicyTestJobs, Depends(get_jobs)]
Window = Annotated[ChangeWindow, Depends(get_window)]


@router.post("/policy/test", status_code=202, response_model=PolicyTestJob,
             responses=error_responses(400, 403, 404, 409, 422, 503))  # fmt: skip
async def start_policy_test(
    context: Context, _admin: Admin, jobs: Jobs, window: Window, response: Response,
    body: Annotated[PolicyTestRequest | None, Body()] = None,
) -> PolicyTestJob:
    """Measure sync times of the current policy and the candidate side by side on an isolated stack; poll the job."""
    if not jobs.enabled:
        raise HTTPException(503, "sync-time tests are off here (FIELDSYNC_POLICY_TEST_ENABLED=false)")
    asked = body or PolicyTestRequest()
    current = await context.policy()
    wanted = candidate(context.catalogue, current, asked)
    shape = shape_or_default(await window.read(context.clock()))
    request = run.PolicyTestRequest(
        current=current, candidate=wanted, shape=shape, rate=run.choose_rate(asked.rate, shape),
        duration_s=asked.duration_s, target_p99_s=asked.p99_s, seed=asked.seed,
    )  # fmt: skip
    try:
        job = jobs.start(request)
    except Busy as exc:
        raise HTTPException(409, str(exc)) from exc
    response.headers["Location"] = f"/api/v1/policy/test/{job.job_id}"
    return job


@router.get("/policy/test/{job_id}", response_model=PolicyTestJob, responses=error_responses(404))
async def policy_test_status(job_id: str, jobs: Jobs) -> PolicyTestJob:
    """The job's state and progress; its report once done, its reason once failed."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no sync-time test {job_id!r} (jobs are kept in memory, the last few only)")
    return job


def policy_test_api(settings: AdminApiSettings) -> APIRouter:
    """The routes with a lifespan that owns the jobs (a running one is stopped with the API) and the window reader."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        app.state.policy_test_window = ChangeWindow(redis)
        app.state.policy_test_jobs = jobs = PolicyTestJobs(
            in_process_of_its_own, lambda: datetime.now(UTC), lambda: str(uuid.uuid4()),
            enabled=settings.policy_test_enabled)
        try:
            yield
        finally:
            await jobs.close()
            await redis.aclose()

    wired = APIRouter(lifespan=lifespan)
    wired.include_router(router)
    return wired
