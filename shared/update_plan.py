"""The update rule both appliers share (pure): idempotency, the latest-wins conflict rule, results, DeltaApplied.

Conflicts (sync-semantics 7): a field the target changed since fieldsync last knew it (current != base) keeps
the target's value when the target was modified after the delta's source change; on a tie CRM wins. Every
conflict is recorded with both values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.events import ApplyResult, DeltaApplied, ItemDelta, Source, System

APPLIED_EVENTS_KEPT = 64
Action = Literal["duplicate", "write", "noop"]


@dataclass(frozen=True)
class Plan:
    """The decision for an update: write `fields`, keep the target's value for `conflicts` (field -> both values)."""

    action: Action
    fields: dict[str, Any] = field(default_factory=dict)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)


def target_is_newer(target: System, modified_at: datetime | None, occurred_at: datetime) -> bool:
    """Whether the target's own change wins over the delta's: later wins, and a tie goes to CRM."""
    if modified_at is None:
        return False
    return modified_at > occurred_at or (modified_at == occurred_at and target == "crm")


def plan_update(
    delta: ItemDelta,
    current: dict[str, Any],
    modified_at: datetime | None,
    base: dict[str, Any],
    applied_events: list[str],
) -> Plan:
    """Decide an update against what the target holds now (`current`, last modified at `modified_at`).

    - a delta already applied (its event id recorded) changes nothing;
    - a field the target already holds with the delta's value needs no write;
    - a field the target changed since fieldsync last knew it (`base`) keeps the target's value when the target
      is newer (`target_is_newer`), recorded as a conflict; otherwise the delta's value is written.
    """
    if delta.event_id in applied_events:
        return Plan("duplicate")
    source: System = "exchange" if delta.target == "crm" else "crm"
    newer = target_is_newer(delta.target, modified_at, delta.occurred_at)
    fields: dict[str, Any] = {}
    conflicts: dict[str, dict[str, Any]] = {}
    for key, value in delta.changed.items():
        held = current.get(key)
        if held == value:
            continue
        if newer and key in base and base[key] != held:
            conflicts[key] = {delta.target: held, source: value}
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
    crm_id: str | None = None,
    exchange_id: str | None = None,
    written: dict[str, Any] | None = None,
    written_version: str | None = None,
    error: str | None = None,
) -> DeltaApplied:
    """The DeltaApplied for one delta: its timings from source to target, what was written, the ids it has now."""
    return DeltaApplied(
        event_id=event_id,
        occurred_at=delta.occurred_at,
        captured_at=delta.captured_at,
        source=Source(system=delta.target, position=written_version),
        entity=delta.entity,
        op=delta.op,
        crm_id=crm_id or delta.crm_id,
        mailbox=delta.mailbox,
        exchange_id=exchange_id or delta.exchange_id,
        changed=written or {},
        origin="fieldsync",
        causation_id=delta.event_id,
        target=delta.target,
        result=result,
        decided_at=delta.decided_at,
        applied_at=applied_at,
        written_version=written_version,
        error=error,
    )
