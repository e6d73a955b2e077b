"""The verify job's request and response bodies (its OpenAPI schema), as frozen pydantic models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import Direction

JobState = Literal["running", "done", "failed"]
Side = Literal["crm", "exchange"]


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VerifyRequest(Body):
    """What to check: every linked pair, or those of one entity and/or one mailbox."""

    entity: str | None = Field(default=None, min_length=1, description="Only this entity (a catalogue name)")
    mailbox: str | None = Field(default=None, min_length=1, description="Only pairs in this mailbox")


class Pair(Body):
    """One linked pair: a CRM record and its item in one mailbox."""

    entity: str
    crm_id: str
    mailbox: str
    exchange_id: str


class Difference(Pair):
    """A field that flows both ways and holds different values on the two sides."""

    field: str
    crm_value: Any = None
    exchange_value: Any = None


class OneWayDifference(Difference):
    """A field that flows one way only and differs: edited on the side it does not flow from, which
    sync-semantics section 1 allows (informational, never a failure)."""

    direction: Direction = Field(description="The direction the field flows in (to_exchange or to_crm)")
    note: str


class Missing(Pair):
    """A link whose item no longer exists on one side."""

    missing_on: Side


class VerifyReport(Body):
    pairs_checked: int = Field(description="Linked pairs read and compared (untracked ones included)")
    consistent: bool = Field(description="No differences and no missing items (one-way ones do not count)")
    policy_version: int = Field(description="The policy version whose directions were compared")
    untracked: int = Field(description="Pairs skipped because the item is untracked: nothing flows either way")
    differences: list[Difference]
    missing: list[Missing]
    one_way_differences: list[OneWayDifference]


class Progress(Body):
    checked: int = Field(description="Pairs compared so far")
    total: int | None = Field(description="Pairs to compare; null while the links are being listed")


class VerifyJob(Body):
    job_id: str
    state: JobState
    entity: str | None
    mailbox: str | None
    started_at: datetime
    finished_at: datetime | None = None
    progress: Progress
    reason: str | None = Field(default=None, description="Why the job failed")
    report: VerifyReport | None = Field(default=None, description="Set once the job is done")
