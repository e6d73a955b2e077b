"""Request and response bodies of the operators' routes: explain and dead letters."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.dead_letter_log import AuditEntry, DeadLetter, Status


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeadLetterPage(_Body):
    letters: list[DeadLetter]
    total: int
    offset: int
    limit: int


class AuditPage(_Body):
    entries: list[AuditEntry]
    total: int
    offset: int
    limit: int


class ReplayFilter(_Body):
    """Which dead letters to replay: those matching every filter given; `all` must be said to replay everything."""

    service: str | None = Field(default=None, min_length=1)
    reason: str | None = Field(default=None, min_length=1)
    since: datetime | None = None
    until: datetime | None = None
    status: Status | None = "open"
    all: bool = False


class ReplayResult(_Body):
    replayed: list[DeadLetter]
    skipped: list[str] = Field(default_factory=list)


class DiscardRequest(_Body):
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")  # something to read, not only spaces
