"""The verify routes, and the resources they need (Redis, the Web API and EWS clients, the jobs), wired here.

`verify_api(settings)` is included by main.create_app with one line; its lifespan runs inside the app's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Response
from redis.asyncio import Redis

from services.admin_api import service
from services.admin_api.context import Context, current_principal
from services.admin_api.responses import error_responses
from services.admin_api.settings import AdminApiSettings
from services.admin_api.verify_jobs import TooManyJobs, Verifier, VerifyJobs
from services.admin_api.verify_reader import LinkIndex, SideReader
from services.admin_api.verify_schemas import VerifyJob, VerifyRequest
from shared.catalogue import load_catalogue
from shared.crm.client import CrmClient
from shared.exchange.client import FOLDERS, ExchangeClient
from shared.settings import refuse_placeholders

router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)], tags=["verify"])




def get_jobs(request: Request) -> VerifyJobs:
    jobs: VerifyJobs = request.app.state.verify_jobs
    return jobs


Jobs = Annotated[VerifyJobs, Depends(get_jobs)]


@router.post("/verify", status_code=202, response_model=VerifyJob, responses=error_responses(400, 404, 409, 422, 503))
async def start_verify(
    context: Context, jobs: Jobs, response: Response, body: Annotated[VerifyRequest | None, Body()] = None
) -> VerifyJob:
    """Start comparing both sides of every linked pair (or those of one entity / mailbox); poll the job."""
    request = body or VerifyRequest()
    if request.entity is not None:
        service.entity_spec(context.catalogue, request.entity)  # 404 for an unknown entity
    policy = await context.policy()
    try:
        job = jobs.start(request, policy)
    except TooManyJobs as exc:
        raise HTTPException(409, str(exc)) from exc
    response.headers["Location"] = f"/api/v1/verify/{job.job_id}"
    return job


@router.get("/verify/{job_id}", response_model=VerifyJob, responses=error_responses(404))
async def verify_status(job_id: str, jobs: Jobs) -> VerifyJob:
    """The job's state and progress; its report once done, its reason once failed."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no verify job {job_id!r} (jobs are kept in memory, the last few only)")
    return job


def verify_api(settings: AdminApiSettings) -> APIRouter:
    """The verify routes with a lifespan that builds their clients; refuses (ValueError) placeholder
    CRM or EWS secrets outside the sandbox, as every service does."""
    refuse_placeholders(settings, settings.crm_client_secret, settings.ews_password)
    catalogue = load_catalogue()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Start: Redis and the clients (neither connects before the first job). Stop: cancel jobs, close."""
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        crm = CrmClient.from_settings(settings)
        exchange = ExchangeClient(settings)
        reader = SideReader(crm, exchange, catalogue, settings.verify_batch_size, settings.verify_concurrency)
        entities = frozenset(FOLDERS) & frozenset(catalogue.entities)
        verifier = Verifier(LinkIndex(redis), reader, catalogue, entities)
        jobs = VerifyJobs(verifier.run, settings.verify_jobs_kept, lambda: datetime.now(UTC), lambda: str(uuid.uuid4()))
        app.state.verify_jobs = jobs
        try:
            yield
        finally:
            await jobs.close()
            await exchange.close()
            await crm.aclose()
            await redis.aclose()

    wired = APIRouter(lifespan=lifespan)
    wired.include_router(router)
    return wired
