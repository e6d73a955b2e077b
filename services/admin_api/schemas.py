"""The admin API's request and response bodies, as frozen pydantic models (they are its OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.events import Direction, Policy
from shared.policy_store import DirectionChange, HistoryEntry


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorBody(Body):
    detail: str = Field(description="What went wrong, in one sentence")


class EntitySummary(Body):
    name: str
    display_name: str
    field_count: int


class FieldView(Body):
    """One field pair as the Dynamics synchronization dialog shows it, with the mapping behind it."""

    field: str = Field(description="The field key (CRM logical name, or a snake_case name for composites)")
    crm_field: str
    crm_attributes: list[str]
    exchange_field: str
    exchange_properties: list[str]
    direction: Direction = Field(description="The direction in force now")
    default_direction: Direction
    changeable: bool
    allowed_directions: list[Direction]
    note: str | None = None


class DirectionRequest(Body):
    direction: Direction


class FieldDirectionResult(Body):
    field: FieldView
    version: int = Field(description="The policy version after the call")
    changed: bool = Field(description="False when the field already had this direction (no new version)")
    published: bool = Field(description="True when PolicyChanged for this version reached the broker")


class PolicyChangeRequest(Body):
    changes: list[DirectionChange] = Field(min_length=1, max_length=1000)
    expected_version: int | None = Field(
        default=None, description="Refuse with 409 unless this is the current version (no lost update)"
    )


class PolicyUpdate(Body):
    policy: Policy
    changed: bool = Field(description="False when nothing differed (no new version)")
    published: bool = Field(description="True when PolicyChanged for this version reached the broker")


class HistoryPage(Body):
    entries: list[HistoryEntry] = Field(description="Newest first")
    total: int
    offset: int
    limit: int


class Health(Body):
    status: str


class Readiness(Body):
    status: str
    checks: dict[str, str]


class NotReady(Body):
    detail: str
    checks: dict[str, str]
