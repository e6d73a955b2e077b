"""The admin API's request and response bodies, as frozen pydantic models (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from shared.events import ConflictRecord, ConflictRule, Direction, Policy
from shared.org_settings import SettingsChange
from shared.policy_store import ConflictRuleChange, DirectionChange, HistoryEntry


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
    crm_writable: bool = Field(True, description="False: fieldsync can never write this field in CRM")
    exchange_writable: bool = Field(True, description="False: fieldsync can never write this field in Exchange")
    writable_note: str | None = Field(None, description="Why a side can never be written")
    setting_note: str | None = Field(
        None, description="Why an organisation setting keeps this pair from syncing now (setting off, or on but not "
        "supported); null for a pair no setting governs"
    )


class DirectionRequest(Body):
    direction: Direction


class FieldDirectionResult(Body):
    field: FieldView
    version: int = Field(description="The policy version after the call")
    changed: bool = Field(description="False when the field already had this direction (no new version)")
    published: bool = Field(description="True when PolicyChanged for this version reached the broker")


class ConflictRuleRequest(Body):
    rule: ConflictRule


class ConflictRuleResult(Body):
    entity: str
    rule: ConflictRule = Field(description="The rule in force now")
    default_rule: ConflictRule
    version: int = Field(description="The policy version after the call")
    changed: bool = Field(description="False when the entity already had this rule (no new version)")
    published: bool = Field(description="True when PolicyChanged for this version reached the broker")


# At least one change of any kind: stated in the schema too, so that clients (and schemathesis) know it.
_NON_EMPTY: list[JsonDict] = [{"required": [name], "properties": {name: {"minItems": 1}}}
                               for name in ("changes", "rule_changes")]  # fmt: skip
_SOME_SETTING: JsonDict = {"required": ["settings"], "properties": {"settings": {"type": "object", "minProperties": 1}}}
_SOME_CHANGE: JsonDict = {"anyOf": [*_NON_EMPTY, _SOME_SETTING]}


class PolicyChangeRequest(Body):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_SOME_CHANGE)

    changes: list[DirectionChange] = Field(default_factory=list, max_length=1000, description="Direction changes")
    rule_changes: list[ConflictRuleChange] = Field(
        default_factory=list, max_length=100, description="Conflict rule changes, applied in the same version"
    )
    settings: SettingsChange = Field(
        default_factory=lambda: SettingsChange(), description="Organisation settings to set in the same version "
        "(the others stay)"
    )
    expected_version: int | None = Field(
        default=None, description="Refuse with 409 unless this is the current version (no lost update)"
    )

    @model_validator(mode="after")
    def _some_change(self) -> Self:
        if not self.changes and not self.rule_changes and not self.settings:
            raise ValueError("name at least one change in changes, rule_changes or settings")
        return self


class PolicyUpdate(Body):
    policy: Policy
    changed: bool = Field(description="False when nothing differed (no new version)")
    published: bool = Field(description="True when PolicyChanged for this version reached the broker")


class HistoryPage(Body):
    entries: list[HistoryEntry] = Field(description="Newest first")
    total: int
    offset: int
    limit: int


class ConflictPage(Body):
    conflicts: list[ConflictRecord] = Field(description="Newest first")
    total: int = Field(description="How many recorded conflicts match the filters")
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
