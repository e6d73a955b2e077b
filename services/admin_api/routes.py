"""The admin API's routes: parse, call the pure rules and the store, answer (thin on purpose)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from services.admin_api import service
from services.admin_api.context import Admin, Context, current_principal
from services.admin_api.responses import error_responses
from services.admin_api.schemas import (
    ConflictPage,
    ConflictRuleRequest,
    ConflictRuleResult,
    DirectionRequest,
    EntitySummary,
    FieldDirectionResult,
    FieldView,
    Health,
    HistoryPage,
    NotReady,
    PolicyChangeRequest,
    PolicyUpdate,
    Readiness,
)
from shared.events import DEFAULT_CONFLICT_RULE, Policy
from shared.org_settings import validated
from shared.policy_store import ConflictRuleChange, DirectionChange


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(*codes, 503)


READ = _errors(422)
# 400: a body that is not even decodable JSON (FastAPI's parser); 422: JSON of the wrong shape.
WRITE = _errors(400, 403, 404, 409, 422)
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]
Filter = Annotated[str | None, Query(min_length=1, max_length=400)]

api = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)])
probes = APIRouter()


@api.get("/entities", response_model=list[EntitySummary], responses=READ)
async def list_entities(context: Context) -> list[EntitySummary]:
    return service.entity_summaries(context.catalogue)


@api.get("/entities/{entity}/fields", response_model=list[FieldView], responses=_errors(404, 422))
async def list_fields(entity: str, context: Context) -> list[FieldView]:
    service.entity_spec(context.catalogue, entity)  # 404 before touching Redis
    return service.field_views(context.catalogue, await context.policy(), entity)


@api.put("/entities/{entity}/fields/{field}/direction", response_model=FieldDirectionResult, responses=WRITE)
async def set_direction(
    entity: str, field: str, body: DirectionRequest, context: Context, admin: Admin
) -> FieldDirectionResult:
    """Set one field's direction. Setting the direction it already has is a no-op: same version, no history."""
    change = DirectionChange(entity=entity, field=field, direction=body.direction)
    service.validate_changes(context.catalogue, [change])
    await context.policy()  # seeds version 1 if Redis was emptied
    outcome = await context.store.change([change], admin.name, context.clock())
    update = await context.publish(outcome, admin.name)
    pair = service.field_pair(context.catalogue, entity, field)
    return FieldDirectionResult(
        field=service.field_view(pair, update.policy, entity),
        version=update.policy.version,
        changed=update.changed,
        published=update.published,
    )


@api.put("/entities/{entity}/conflict-rule", response_model=ConflictRuleResult, responses=_errors(400, 403, 404, 422))
async def set_conflict_rule(
    entity: str, body: ConflictRuleRequest, context: Context, admin: Admin
) -> ConflictRuleResult:
    """Set how the entity's conflicts are decided. Setting the rule it already has is a no-op: same version."""
    change = ConflictRuleChange(entity=entity, rule=body.rule)
    service.validate_rule_changes(context.catalogue, [change])
    await context.policy()
    outcome = await context.store.change([], admin.name, context.clock(), rules=[change])
    update = await context.publish(outcome, admin.name)
    return ConflictRuleResult(
        entity=entity,
        rule=update.policy.conflict_rule(entity),
        default_rule=DEFAULT_CONFLICT_RULE,
        version=update.policy.version,
        changed=update.changed,
        published=update.published,
    )


@api.get("/policy", response_model=Policy, responses=READ)
async def get_policy(context: Context) -> Policy:
    return await context.policy()


@api.put("/policy", response_model=PolicyUpdate, responses=WRITE)
async def change_policy(body: PolicyChangeRequest, context: Context, admin: Admin) -> PolicyUpdate:
    """Apply every direction, rule and setting change as one new version, or none (409 when expected_version is
    stale)."""
    changes = service.validate_changes(context.catalogue, body.changes)
    rules = service.validate_rule_changes(context.catalogue, body.rule_changes)
    await context.policy()
    outcome = await context.store.change(changes, admin.name, context.clock(), body.expected_version, rules=rules,
                                         settings=validated(body.settings))  # fmt: skip
    return await context.publish(outcome, admin.name)


@api.get("/policy/history", response_model=HistoryPage, responses=READ)
async def policy_history(context: Context, offset: Offset = 0, limit: Limit = 50) -> HistoryPage:
    entries, total = await context.store.history(offset, limit)
    return HistoryPage(entries=entries, total=total, offset=offset, limit=limit)


@api.post("/policy/reset", response_model=PolicyUpdate, responses=_errors(403))
async def reset_policy(context: Context, admin: Admin) -> PolicyUpdate:
    """Back to the documented defaults as one new version (a no-op when nothing differs)."""
    await context.policy()
    outcome = await context.store.restore_defaults(context.catalogue, admin.name, context.clock())
    return await context.publish(outcome, admin.name)


@api.get("/conflicts", response_model=ConflictPage, responses=_errors(404, 422))
async def list_conflicts(
    context: Context,
    entity: Filter = None,
    crm_id: Filter = None,
    mailbox: Filter = None,
    since: Annotated[datetime | None, Query(description="Decided at or after (ISO 8601; no offset: UTC)")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> ConflictPage:
    """The recorded conflicts matching every filter given, newest first, one page and the total."""
    if entity is not None:
        service.entity_spec(context.catalogue, entity)  # 404 for an entity fieldsync does not sync
    conflicts, total = await context.conflicts.query(
        entity=entity, crm_id=crm_id, mailbox=mailbox, since=since, offset=offset, limit=limit
    )
    return ConflictPage(conflicts=conflicts, total=total, offset=offset, limit=limit)


@probes.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@probes.get("/readyz", response_model=Readiness, responses={503: {"model": NotReady}})
async def readyz(context: Context) -> Readiness | JSONResponse:
    async def probe(check: Any) -> str:
        try:
            await asyncio.wait_for(check(), context.readiness_timeout_s)
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        return "ok"

    redis_state, broker_state = await asyncio.gather(
        probe(context.store.ping), probe(context.publisher.check)
    )
    checks = {"redis": redis_state, "broker": broker_state}
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        body = NotReady(detail=f"not ready: {', '.join(failed)} unreachable", checks=checks)
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ready", checks=checks)
