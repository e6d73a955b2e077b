"""What a delta must change in CRM: validation, idempotency, conflict resolution, results (pure)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.crm_capture.row import write_body
from shared.catalogue import Catalogue
from shared.events import ApplyResult, DeltaApplied, ItemDelta, Source

# Counterparts created from Exchange get a deterministic id, so a replayed create finds its record.
COUNTERPART_NAMESPACE = uuid.UUID("6f1c3a52-3f0e-4bf5-9a55-5d1f0c7e2a10")
APPLIED_EVENTS_KEPT = 64
Action = Literal["duplicate", "write", "noop"]


@dataclass(frozen=True)
class Plan:
    """The decision for an update: write `fields`, keep CRM's value for `conflicts` (field -> both values)."""

    action: Action
    fields: dict[str, Any] = field(default_factory=dict)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)


def item_key(delta: ItemDelta) -> str:
    """The deltas.crm key of the item: `{entity}:{crm_id}`, or `{entity}:x-{mailbox}:{exchange_id}` unlinked."""
    if delta.crm_id:
        return f"{delta.entity}:{delta.crm_id}"
    return f"{delta.entity}:x-{delta.mailbox}:{delta.exchange_id}"


def counterpart_id(mailbox: str, exchange_id: str) -> str:
    return str(uuid.uuid5(COUNTERPART_NAMESPACE, f"{mailbox.lower()}:{exchange_id}"))


def validate(delta: ItemDelta, catalogue: Catalogue) -> str | None:
    """Why a delta cannot be applied at all (a dead letter), or None."""
    if delta.target != "crm":
        return f"target is {delta.target!r}, not 'crm'"
    spec = catalogue.entity(delta.entity)
    if spec is None:
        return f"unknown entity {delta.entity!r}"
    if delta.op == "create" and not delta.crm_id and not (delta.mailbox and delta.exchange_id):
        return "a create without crm_id needs mailbox and exchange_id"
    if delta.op != "create" and not delta.crm_id and not (delta.mailbox and delta.exchange_id):
        return f"an {delta.op} needs crm_id or mailbox and exchange_id"
    try:
        write_body(spec, delta.changed)
    except KeyError as exc:
        return f"field {exc.args[0]!r} is not a mapped {delta.entity} field"
    except ValueError as exc:
        return str(exc)
    return None


def plan_update(
    delta: ItemDelta,
    current: dict[str, Any],
    modified_at: datetime | None,
    base: dict[str, Any],
    applied_events: list[str],
) -> Plan:
    """Decide an update against what CRM holds now.

    - a delta already applied (its event id recorded) changes nothing;
    - a field CRM already holds with the delta's value needs no write;
    - a field CRM changed since fieldsync last knew it (current != base) in a row modified at or
      after the delta's source change keeps the CRM value (latest wins; a tie goes to CRM) and is
      recorded as a conflict; otherwise the delta's value is written.
    """
    if delta.event_id in applied_events:
        return Plan("duplicate")
    crm_newer = modified_at is not None and modified_at >= delta.occurred_at
    fields: dict[str, Any] = {}
    conflicts: dict[str, dict[str, Any]] = {}
    for key, value in delta.changed.items():
        held = current.get(key)
        if held == value:
            continue
        if crm_newer and key in base and base[key] != held:
            conflicts[key] = {"crm": held, "exchange": value}
            continue
        fields[key] = value
    return Plan("write" if fields else "noop", fields, conflicts)


def remember(applied_events: list[str], event_id: str) -> list[str]:
    """The bounded list of applied delta ids after applying one more (newest last)."""
    return [*[e for e in applied_events if e != event_id], event_id][-APPLIED_EVENTS_KEPT:]


def result_of(plan: Plan) -> ApplyResult:
    if plan.action == "duplicate":
        return "duplicate"
    if plan.conflicts:
        return "conflict_resolved"
    return "applied" if plan.action == "write" else "skipped"


def applied_event(
    delta: ItemDelta,
    *,
    event_id: str,
    result: ApplyResult,
    applied_at: datetime,
    crm_id: str | None,
    written: dict[str, Any] | None = None,
    written_version: str | None = None,
    error: str | None = None,
) -> DeltaApplied:
    """The DeltaApplied for one delta: its timings from source to target and what was written."""
    return DeltaApplied(
        event_id=event_id,
        occurred_at=delta.occurred_at,
        captured_at=delta.captured_at,
        source=Source(system="crm", position=written_version),
        entity=delta.entity,
        op=delta.op,
        crm_id=crm_id or delta.crm_id,
        mailbox=delta.mailbox,
        exchange_id=delta.exchange_id,
        changed=written or {},
        origin="fieldsync",
        causation_id=delta.event_id,
        target="crm",
        result=result,
        decided_at=delta.decided_at,
        applied_at=applied_at,
        written_version=written_version,
        error=error,
    )
