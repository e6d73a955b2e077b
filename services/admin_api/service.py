"""The admin API's rules: which direction and rule changes are allowed, and how the policy is shown (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from services.admin_api.schemas import EntitySummary, FieldView
from shared.catalogue import Catalogue, EntitySpec, FieldPair, effective_direction
from shared.events import Policy
from shared.org_settings import governed_note
from shared.policy_store import ConflictRuleChange, DirectionChange, default_conflict_rules


class PolicyError(Exception):
    """A refused request; `status` is the HTTP status the API answers with."""

    status = 400


class UnknownEntity(PolicyError):
    status = 404


class UnknownField(PolicyError):
    status = 404


class NotChangeable(PolicyError):
    status = 409


class DirectionNotAllowed(PolicyError):
    status = 409


class DuplicateChange(PolicyError):
    """One field twice in one change set: the request contradicts itself (409, like any refused change)."""

    status = 409


def entity_spec(catalogue: Catalogue, entity: str) -> EntitySpec:
    spec = catalogue.entity(entity)
    if spec is None:
        known = ", ".join(sorted(catalogue.entities))
        raise UnknownEntity(f"unknown entity {entity!r}; known entities: {known}")
    return spec


def field_pair(catalogue: Catalogue, entity: str, field: str) -> FieldPair:
    pair = entity_spec(catalogue, entity).field(field)
    if pair is None:
        raise UnknownField(f"entity {entity!r} has no synchronized field {field!r}")
    return pair


def validate_change(catalogue: Catalogue, change: DirectionChange) -> None:
    """Refuse unknown fields and directions the catalogue does not allow.

    A fixed field may be "set" to the direction it is fixed at (a no-op), so an exported policy can be
    applied back unchanged; any other direction on it is refused as not changeable.
    """
    pair = field_pair(catalogue, change.entity, change.field)
    if change.direction in pair.allowed_directions:
        return
    where = f"{change.entity}.{change.field}"
    if pair.governed_by is not None:
        raise NotChangeable(f"{where} follows the organisation setting {pair.governed_by} (on: both, off: none); "
                            "change that setting instead (PUT /api/v1/settings)")  # fmt: skip
    if not pair.changeable:
        raise NotChangeable(f"{where} is fixed at {pair.default_direction!r} and cannot be changed")
    allowed = ", ".join(pair.allowed_directions)
    raise DirectionNotAllowed(f"{where} cannot be {change.direction!r}; allowed: {allowed}")


def validate_changes(catalogue: Catalogue, changes: Iterable[DirectionChange]) -> list[DirectionChange]:
    """Validate every change (the first refusal wins) and refuse one field listed twice."""
    seen: set[tuple[str, str]] = set()
    result = []
    for change in changes:
        validate_change(catalogue, change)
        key = (change.entity, change.field)
        if key in seen:
            raise DuplicateChange(f"{change.entity}.{change.field} is listed more than once")
        seen.add(key)
        result.append(change)
    return result


def validate_rule_changes(
    catalogue: Catalogue, changes: Iterable[ConflictRuleChange]
) -> list[ConflictRuleChange]:
    """Refuse unknown entities (the first refusal wins) and one entity listed twice; any entity may take any rule."""
    seen: set[str] = set()
    result = []
    for change in changes:
        entity_spec(catalogue, change.entity)
        if change.entity in seen:
            raise DuplicateChange(f"the conflict rule of {change.entity} is listed more than once")
        seen.add(change.entity)
        result.append(change)
    return result


def complete_policy(catalogue: Catalogue, policy: Policy) -> Policy:
    """The policy with the conflict rule of every catalogue entity spelled out (one it does not name has the
    default), as the API shows it and PolicyChanged carries it."""
    rules = {**default_conflict_rules(catalogue), **policy.conflict_rules}
    return policy if rules == policy.conflict_rules else policy.model_copy(update={"conflict_rules": rules})


def entity_summaries(catalogue: Catalogue) -> list[EntitySummary]:
    return [
        EntitySummary(name=spec.name, display_name=spec.display_name, field_count=len(spec.fields))
        for spec in catalogue.entities.values()
    ]


def field_view(pair: FieldPair, policy: Policy, entity: str) -> FieldView:
    """The pair with the direction it syncs in (shared.catalogue.effective_direction)."""
    return FieldView(
        field=pair.key,
        crm_field=pair.crm_field,
        crm_attributes=list(pair.crm_attributes),
        exchange_field=pair.exchange_field,
        exchange_properties=list(pair.exchange_properties),
        direction=effective_direction(pair, policy, entity),
        default_direction=pair.default_direction,
        changeable=pair.changeable,
        allowed_directions=list(pair.allowed_directions),
        note=pair.note,
        crm_writable=pair.crm_writable,
        exchange_writable=pair.exchange_writable,
        writable_note=pair.writable_note,
        setting_note=governed_note(entity, pair.key, policy.settings),
    )


def field_views(catalogue: Catalogue, policy: Policy, entity: str) -> list[FieldView]:
    spec = entity_spec(catalogue, entity)
    return [field_view(pair, policy, entity) for pair in spec.fields]
