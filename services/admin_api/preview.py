"""The preview's request and the candidate policy it describes (pure: no I/O).

The body has the shape of `PUT /api/v1/policy` (direction changes, conflict rule changes) plus the organisation
settings to try, and no expected version (nothing is applied); none of them is required: an empty body previews
the current policy against itself. The candidate is the current policy with every change made, validated by the
same rules as a real change (service.validate_changes: unknown entity or field 404, a fixed field or a direction
a field may not take 409), so what previews cleanly would apply cleanly.
"""

from __future__ import annotations

from pydantic import Field

from services.admin_api import service
from services.admin_api.schemas import Body
from shared.catalogue import Catalogue
from shared.events import OrgSettings, Policy
from shared.policy_store import ConflictRuleChange, DirectionChange
from shared.preview import SAMPLE_SIZE


class PreviewRequest(Body):
    changes: list[DirectionChange] = Field(default_factory=list, max_length=1000, description="Direction changes")
    rule_changes: list[ConflictRuleChange] = Field(default_factory=list, max_length=100,
                                                   description="Conflict rule changes")  # fmt: skip
    settings: OrgSettings | None = Field(
        default=None, description="Organisation settings to try; only the ones named change, the rest stay"
    )
    sample_size: int = Field(default=SAMPLE_SIZE, ge=0, le=100, description="How many affected changes to show")


def candidate(catalogue: Catalogue, current: Policy, request: PreviewRequest) -> Policy:
    """The current policy with the request's changes (raises service.PolicyError as a real change would)."""
    changes = service.validate_changes(catalogue, request.changes)
    rules = service.validate_rule_changes(catalogue, request.rule_changes)
    directions = {entity: dict(fields) for entity, fields in current.directions.items()}
    for change in changes:
        directions.setdefault(change.entity, {})[change.field] = change.direction
    conflict_rules = {**current.conflict_rules, **{change.entity: change.rule for change in rules}}
    settings = current.settings
    if request.settings is not None:
        named = {name: getattr(request.settings, name) for name in request.settings.model_fields_set}
        settings = settings.model_copy(update=named)
    return current.model_copy(update={"directions": directions, "conflict_rules": conflict_rules, "settings": settings})
