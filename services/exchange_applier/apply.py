"""What a delta must change in a mailbox: validation, idempotency, conflict resolution, results (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from shared import attachments
from shared.events import TRACKABLE, TRACKING_CATEGORY, ItemDelta
from shared.exchange import fields as exchange_fields
from shared.update_plan import APPLIED_EVENTS_KEPT, Plan, applied_event, plan_update, remember, result_of

# The update rule is shared with the other applier (shared/update_plan.py); this module adds this side's parts.
__all__ = [
    "APPLIED_EVENTS_KEPT",
    "CONTAINERS",
    "CREATION_NAMESPACE",
    "Plan",
    "applied_event",
    "creation_marker",
    "item_key",
    "plan_update",
    "remember",
    "result_of",
    "retry_delay",
    "self_contained",
    "validate",
    "with_tracking",
    "without_tracking",
]

# uuid5 namespace of the creation markers: fixed, so an item created before an upgrade is still found.
CREATION_NAMESPACE = uuid.UUID("0b7d2f4e-5c1a-4e8b-9f36-2a9d41c7e5b3")


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
        if attachments.KEY in delta.changed:
            attachments.validated(delta.changed[attachments.KEY])
    except (exchange_fields.FieldValueError, attachments.AttachmentValueError) as exc:
        return str(exc)
    return None


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


def retry_delay(attempt: int, retry_after: float | None, base_s: float, cap_s: float) -> float:
    """The wait before retry `attempt` (1-based): the server's requested wait if it gave one, else exponential."""
    wanted = retry_after if retry_after is not None else base_s * 2 ** (attempt - 1)
    return max(0.0, min(wanted, cap_s))
