"""The update rule both appliers share (pure): idempotency, guarded fields, results, DeltaApplied.

The appliers decide nothing about conflicts: the policy's merge point did (services/policy/merge.py). A
delta's `expected` value of a field is what the merge point believed the target holds; the applier writes
that field only while the target still holds it. If the target holds something else, someone changed it
there meanwhile: the field is *superseded*, left as it is, and the target side's capture reports that change
to the merge point, which decides between the two and writes the winner to both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.events import ApplyResult, DeltaApplied, ItemDelta, Source

APPLIED_EVENTS_KEPT = 64
Action = Literal["duplicate", "write", "noop"]


@dataclass(frozen=True)
class Plan:
    """The decision for an update: write `fields`; leave `superseded` ones (field -> what the target holds and
    what the delta expected) as the target holds them."""

    action: Action
    fields: dict[str, Any] = field(default_factory=dict)
    superseded: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan_update(delta: ItemDelta, current: dict[str, Any], applied_events: list[str]) -> Plan:
    """Decide an update against what the target holds now (`current`, canonical values).

    - a delta already applied (its event id recorded) changes nothing;
    - a field the target already holds with the delta's value needs no write;
    - a field the delta expects to find at a value the target no longer holds is superseded;
    - every other field is written.
    """
    if delta.event_id in applied_events:
        return Plan("duplicate")
    fields: dict[str, Any] = {}
    superseded: dict[str, dict[str, Any]] = {}
    for key, value in delta.changed.items():
        if key in current and current[key] == value:
            continue
        if key in delta.expected and key in current and current[key] != delta.expected[key]:
            superseded[key] = {"target": current[key], "expected": delta.expected[key]}
            continue
        fields[key] = value
    return Plan("write" if fields else "noop", fields, superseded)


def remember(applied_events: list[str], event_id: str) -> list[str]:
    """The bounded list of applied delta ids after applying one more (newest last)."""
    return [*[e for e in applied_events if e != event_id], event_id][-APPLIED_EVENTS_KEPT:]


def superseded_note(superseded: dict[str, dict[str, Any]]) -> str | None:
    """The DeltaApplied note of superseded fields: the target's change goes to the merge point instead."""
    if not superseded:
        return None
    return f"superseded (changed in the target meanwhile; the merge point decides): {superseded}"


def result_of(plan: Plan) -> ApplyResult:
    if plan.action == "duplicate":
        return "duplicate"
    if plan.superseded:
        return "superseded"
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
