"""The sync-time test job's request and response bodies (its OpenAPI schema), as frozen pydantic models."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from infra.policytest.report import PolicyTestReport
from services.admin_api.preview import PreviewRequest
from services.admin_api.verify_schemas import Body, JobState


class PolicyTestRequest(PreviewRequest):
    """The candidate in the shape of the preview's body (direction and rule changes, settings to try) and the run."""

    rate: float | None = Field(default=None, gt=0, le=200,
                               description="Changes per second (default: the change window's own rate)")  # fmt: skip
    duration_s: float = Field(default=20.0, ge=1, le=600, description="Seconds of traffic per policy")
    p99_s: float = Field(default=2.0, gt=0, le=600, description="The candidate's p99 sync time target")
    seed: int = Field(default=7, description="Seed of the traffic, the same for both policies")


class PolicyTestProgress(Body):
    share: float = Field(description="Share of the run done, 0 to 1")
    stage: str = Field(description="What the test is doing")


class PolicyTestJob(Body):
    job_id: str
    state: JobState
    started_at: datetime
    finished_at: datetime | None = None
    current_version: int = Field(description="The policy version the candidate was built on and compared with")
    rate: float
    duration_s: float
    p99_s: float
    progress: PolicyTestProgress
    reason: str | None = Field(default=None, description="Why the job failed")
    report: PolicyTestReport | None = Field(default=None, description="Set once the job is done")
