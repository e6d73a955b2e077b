"""What a delta must change in a mailbox: validation, idempotency, conflict resolution, results (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.clients import exchange_fields
from shared.events import TRACKABLE, TRACKING_CATEGORY, ApplyResult, DeltaApplied, ItemDelta, Source

APPLIED_EVENTS_KEPT = 64
# uuid5 namespace of the creation markers: fixed, so an item created before an upgrade is still found.
CREATION_NAMESPACE = uuid.UUID("0b7d2f4e-5c1a-4e8b-9f36-2a9d41c7e5b3")
Action = Literal["duplicate", "write", "noop"]


@dataclass(frozen=True)
class Plan:
    """The decision for an update: write `fields`, keep Exchange's value for `conflicts` (field -> both values)."""

    action: Action
    fields: dict[str, Any] = field(default_factory=dict)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)


def item_key(delta: ItemDelta) -> str:
    """The deltas.exchange key: `{mailbox}:{entity}:{crm_id}`, or `{mailbox}:{entity}:x-{exchange_id}` unlinked."""
    if delta.crm_id:
        return f"{delta.mailbox}:{delta.entity}:{delta.crm_id}"
    return f"{delta.mailbox}:{delta.entity}:x-{delta.exchange_id}"


def creation_marker(delta: ItemDelta) -> str:
    """The marker an item created for this delta carries: the same for every attempt (per linked CRM record,
    else per delta), so a create replayed after a crash or retried after a timeout finds the item it made."""
    origin = f"{delta.mailbox}:{delta.entity}:{delta.crm_id}" if delta.crm_id else f"event:{delta.event_id}"
    return str(uuid.uuid5(CREATION_NAMESPACE, origin.lower()))


def validate(delta: ItemDelta) -> str | None:
    """Why a delta cannot be applied at all (a dead letter), or None."""
    if delta.target != "exchange":
        return f"target is {delta.target!r}, not 'exchange'"
    if not delta.mailbox:
        return "a delta for Exchange needs a mailbox"
    if delta.entity not in exchange_fields.CODECS:
        return f"entity {delta.entity!r} has no Exchange mapping"
    if not delta.crm_id and not delta.exchange_id:
        return f"an {delta.op} needs crm_id or exchange_id"
    try:
        exchange_fields.to_exchange(delta.entity, delta.changed)
    except exchange_fields.FieldValueError as exc:
        return str(exc)
    return None


def plan_update(
    delta: ItemDelta,
    current: dict[str, Any],
    modified_at: datetime | None,
    base: dict[str, Any],
    applied_events: list[str],
) -> Plan:
    """Decide an update against what the mailbox holds now.

    - a delta already applied (its event id recorded) changes nothing;
    - a field the item already holds with the delta's value needs no write;
    - a field changed in Exchange since fieldsync last knew it (current != base) in an item modified
      strictly after the delta's source change keeps the Exchange value (latest wins) and is recorded
      as a conflict; on a tie, or when the CRM change is later, CRM's value is written.
    """
    if delta.event_id in applied_events:
        return Plan("duplicate")
    exchange_newer = modified_at is not None and modified_at > delta.occurred_at
    fields: dict[str, Any] = {}
    conflicts: dict[str, dict[str, Any]] = {}
    for key, value in delta.changed.items():
        held = current.get(key)
        if held == value:
            continue
        if exchange_newer and key in base and base[key] != held:
            conflicts[key] = {"crm": value, "exchange": held}
            continue
        fields[key] = value
    return Plan("write" if fields else "noop", fields, conflicts)


# Written whole by exchangelib: a write of one entry needs the item's other entries (exchange_fields).
CONTAINERS = frozenset({"phone_numbers", "email_addresses", "physical_addresses"})


def self_contained(entity: str, fields: Iterable[str], attributes: Mapping[str, Any]) -> bool:
    """Whether writing `attributes` for `fields` needs nothing of the item as it is (so it can be written
    against the snapshot's ChangeKey unread): no field lives in an indexed container, and every attribute
    a field reads back is among those written (so what was written is known exactly)."""
    for key in fields:
        codec = exchange_fields.CODECS.get(entity, {}).get(key)
        if codec is None or CONTAINERS.intersection(codec.attributes) or not set(codec.attributes) <= set(attributes):
            return False
    return True


def with_tracking(entity: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes of an item fieldsync creates: appointments and tasks carry the tracking category
    (Dynamics marks the items it synchronizes to a mailbox as tracked); contacts never do."""
    if entity not in TRACKABLE:
        return attributes
    categories = [c for c in attributes.get("categories") or [] if c != TRACKING_CATEGORY]
    return {**attributes, "categories": [*categories, TRACKING_CATEGORY]}


def without_tracking(categories: Any) -> list[str] | None:
    """An unlinked item's categories: the tracking category goes, the user's stay; None when nothing changes.

    Updates never write categories otherwise, so the user's own categories are always kept."""
    held = list(categories or [])
    if TRACKING_CATEGORY not in held:
        return None
    return [c for c in held if c != TRACKING_CATEGORY]


def remember(applied_events: list[str], event_id: str) -> list[str]:
    """The bounded list of applied delta ids after applying one more (newest last)."""
    return [*[e for e in applied_events if e != event_id], event_id][-APPLIED_EVENTS_KEPT:]


def result_of(plan: Plan) -> ApplyResult:
    if plan.action == "duplicate":
        return "duplicate"
    if plan.conflicts:
        return "conflict_resolved"
    return "applied" if plan.action == "write" else "skipped"


def retry_delay(attempt: int, retry_after: float | None, base_s: float, cap_s: float) -> float:
    """The wait before retry `attempt` (1-based): the server's requested wait if it gave one, else exponential."""
    wanted = retry_after if retry_after is not None else base_s * 2 ** (attempt - 1)
    return max(0.0, min(wanted, cap_s))


def applied_event(
    delta: ItemDelta,
    *,
    event_id: str,
    result: ApplyResult,
    applied_at: datetime,
    exchange_id: str | None,
    written: dict[str, Any] | None = None,
    written_version: str | None = None,
    error: str | None = None,
) -> DeltaApplied:
    """The DeltaApplied for one delta: its timings from source to target and what was written."""
    return DeltaApplied(
        event_id=event_id,
        occurred_at=delta.occurred_at,
        captured_at=delta.captured_at,
        source=Source(system="exchange", position=written_version),
        entity=delta.entity,
        op=delta.op,
        crm_id=delta.crm_id,
        mailbox=delta.mailbox,
        exchange_id=exchange_id or delta.exchange_id,
        changed=written or {},
        origin="fieldsync",
        causation_id=delta.event_id,
        target="exchange",
        result=result,
        decided_at=delta.decided_at,
        applied_at=applied_at,
        written_version=written_version,
        error=error,
    )
