"""The operators' routes: explain (viewer) and dead letters (admin): parse, call the readers and logs, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.admin_api import deadletters, service
from services.admin_api.context import Admin, AppContext, Context, current_principal
from services.admin_api.explain import Explanation
from services.admin_api.ops_schemas import (
    AuditPage,
    DeadLetterPage,
    DiscardRequest,
    ReplayFilter,
    ReplayResult,
)
from services.admin_api.responses import error_responses
from shared.dead_letter_log import DeadLetter, Status

Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]
Filter = Annotated[str | None, Query(min_length=1, max_length=400)]
Moment = Annotated[datetime | None, Query(description="ISO 8601; no offset: UTC")]
Changes = Annotated[int, Query(ge=1, le=200, description="At most this many changes, newest first")]

ops = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(*codes, 503)


@ops.get("/explain/{entity}/{crm_id}", response_model=Explanation, responses=_errors(404, 422))
async def explain_record(
    entity: str, crm_id: str, context: Context, mailbox: Filter = None, field: Filter = None, limit: Changes = 20
) -> Explanation:
    """What happened to this record's fields (for one mailbox, one field) and why: each recent change, the policy
    version that decided it, each field synced or the reason, and what the appliers did."""
    service.entity_spec(context.catalogue, entity)
    return await context.explain.by_crm(entity, crm_id, mailbox, field, limit)


@ops.get("/explain/{entity}", response_model=Explanation, responses=_errors(404, 422))
async def explain_mailbox_item(
    entity: str,
    context: Context,
    exchange_id: Annotated[str, Query(min_length=1, max_length=400)],
    mailbox: Annotated[str, Query(min_length=1, max_length=400)],
    field: Filter = None,
    limit: Changes = 20,
) -> Explanation:
    """The same for a mailbox item named by its Exchange id (and its CRM record's changes for that mailbox)."""
    service.entity_spec(context.catalogue, entity)
    return await context.explain.by_exchange(entity, mailbox, exchange_id, field, limit)


@ops.get("/deadletters", response_model=DeadLetterPage, responses=_errors(403, 422))
async def list_dead_letters(
    context: Context, _admin: Admin, service_name: Annotated[str | None, Query(alias="service", min_length=1)] = None,
    reason: Filter = None, since: Moment = None, until: Moment = None, status: Status | None = None,
    offset: Offset = 0, limit: Limit = 50,
) -> DeadLetterPage:
    """The kept dead letters matching every filter (service, a reason substring, time, status), newest first."""
    letters, total = await context.letters.query(
        service=service_name, reason=reason, since=since, until=until, status=status, offset=offset, limit=limit
    )
    return DeadLetterPage(letters=letters, total=total, offset=offset, limit=limit)


@ops.get("/deadletters/audit", response_model=AuditPage, responses=_errors(403, 422))
async def dead_letter_audit(context: Context, _admin: Admin, offset: Offset = 0, limit: Limit = 50) -> AuditPage:
    """Who replayed or discarded which dead letter, newest first."""
    entries, total = await context.letters.audit(offset, limit)
    return AuditPage(entries=entries, total=total, offset=offset, limit=limit)


@ops.post("/deadletters/replay", response_model=ReplayResult, responses=_errors(400, 403, 422))
async def replay_matching(body: ReplayFilter, context: Context, admin: Admin) -> ReplayResult:
    """Replay every dead letter matching the filter (oldest first); with no filter, only when `all` is true
    (otherwise nothing is replayed and `skipped` says why)."""
    if not body.all and not (body.service or body.reason or body.since or body.until):
        return ReplayResult(replayed=[], skipped=["nothing replayed: name a filter (service, reason, since, until) "
                                                  "or say all: true"])
    found, _ = await context.letters.query(
        service=body.service, reason=body.reason, since=body.since, until=body.until, status=body.status,
        limit=1_000_000,
    )
    done, skipped = await deadletters.replay_all(
        context.letters, context.publisher, list(reversed(found)), admin.name, context.clock
    )
    return ReplayResult(replayed=done, skipped=skipped)


async def _letter(context: AppContext, letter_id: str) -> DeadLetter:
    letter = await context.letters.get(letter_id)
    if letter is None:
        raise deadletters.UnknownDeadLetter(f"no dead letter {letter_id!r} is kept")
    return letter


@ops.get("/deadletters/{letter_id}", response_model=DeadLetter, responses=_errors(403, 404))
async def show_dead_letter(letter_id: str, context: Context, _admin: Admin) -> DeadLetter:
    return await _letter(context, letter_id)


@ops.post("/deadletters/{letter_id}/replay", response_model=DeadLetter, responses=_errors(403, 404, 409))
async def replay_one(letter_id: str, context: Context, admin: Admin) -> DeadLetter:
    """Re-publish the original key and bytes to the topic they failed on; replaying twice changes nothing more."""
    letter = await _letter(context, letter_id)
    return await deadletters.replay(context.letters, context.publisher, letter, admin.name, context.clock)


@ops.post("/deadletters/{letter_id}/discard", response_model=DeadLetter, responses=_errors(400, 403, 404, 422))
async def discard_one(letter_id: str, body: DiscardRequest, context: Context, admin: Admin) -> DeadLetter:
    """Set a dead letter aside for good, with the reason; it stays listed as discarded."""
    letter = await _letter(context, letter_id)
    return await deadletters.discard(context.letters, letter, admin.name, body.reason, context.clock)
