"""What changed in an Exchange item since it was last seen: only changed fields, deletes, echo dropped (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.events import ItemChanged, Op, Source
from shared.exchange.snapshot import (
    CATEGORIES,
    EXACT,
    IS_ORGANIZER,
    VERSION,
    Echo,
    Observed,
    Snapshot,
    snapshot_of,
)
from shared.item_state import holds


@dataclass(frozen=True)
class Change:
    """One change to publish (the pure part of an ItemChanged)."""

    op: Op
    changed: dict[str, Any]
    context: dict[str, Any]
    version: str | None
    occurred_at: datetime | None = None  # LastModifiedTime; None for deletes
    previous: dict[str, Any] = field(default_factory=dict)  # each changed field's value in the last snapshot


@dataclass(frozen=True)
class Diff:
    """The change to publish (None: nothing to say) and the snapshot to store once it is published."""

    change: Change | None
    snapshot: Snapshot


def _context(snapshot: Snapshot) -> dict[str, Any]:
    context: dict[str, Any] = {"categories": list(snapshot.get(CATEGORIES) or [])}
    if snapshot.get(IS_ORGANIZER) is not None:
        context["is_organizer"] = snapshot[IS_ORGANIZER]
    return context


def diff_item(previous: Snapshot | None, observed: Observed, echo: Echo | None) -> Diff:
    """Compare an item with its last snapshot.

    - no snapshot: a create with every field, unless the item's ChangeKey is the one fieldsync's own
      create produced, or the item is one the applier is still creating (found before the applier recorded it:
      reported, it became a second CRM record linked to the same item);
    - otherwise only fields whose canonical value differs; a change of categories alone (tracking)
      is an update with no fields, so the policy can (un)track it;
    - echo: when the ChangeKey is the one fieldsync wrote, fields holding exactly what it wrote are
      dropped (usually nothing is left: the applier already stored those values in the snapshot); so are
      they while an applier's write is announced but not yet recorded (its version unknown: the capture
      read the item between the write and its record).
    """
    current = snapshot_of(observed)
    values = observed.values
    own_version = echo is not None and echo.version is not None and echo.version == observed.version
    if previous is None:
        if own_version or observed.own_create:
            return Diff(None, current)
        return Diff(Change("create", dict(values), _context(current), observed.version, observed.modified_at), current)
    changed = {key: value for key, value in values.items() if key not in previous or previous[key] != value}
    occurred_at = observed.modified_at
    if own_version and echo is not None and echo.before:
        occurred_at = datetime.fromisoformat(echo.before)  # the last modification is fieldsync's own write
    if echo is not None:
        changed = {k: v for k, v in changed.items() if not holds(echo, k, v, observed.version)}
    categories_changed = CATEGORIES in previous and sorted(previous[CATEGORIES] or []) != sorted(current[CATEGORIES])
    if not changed and not categories_changed:
        return Diff(None, current)
    before = {key: previous[key] for key in changed if key in previous}
    return Diff(
        Change("update", changed, _context(current), observed.version, occurred_at, before), current
    )


def known_version(previous: Snapshot | None, changekey: str | None) -> bool:
    """True when the item is exactly as last seen, so reading it again can tell nothing new: the snapshot is
    the whole item (EXACT) at this very ChangeKey (every change of an item changes it) and holds the read
    context (categories), which a snapshot has once the capture read the item. This is how the capture
    recognises fieldsync's own writes by ChangeKey without fetching them."""
    return (
        previous is not None
        and changekey is not None
        and previous.get(VERSION) == changekey
        and previous.get(EXACT) == changekey
        and CATEGORIES in previous
    )


def diff_delete(previous: Snapshot | None, linked: bool) -> Change | None:
    """A deleted item: op delete with the context last seen; None when nothing about it is known
    (never captured and not linked, or deleted by fieldsync, which drops snapshot and links first)."""
    if previous is None and not linked:
        return None
    return Change("delete", {}, _context(previous or {}), None)


def to_event(
    change: Change,
    entity: str,
    mailbox: str,
    exchange_id: str,
    crm_id: str | None,
    *,
    event_id: str,
    now: datetime,
    position: str | None,
) -> ItemChanged:
    """The ItemChanged for a change; a delete (no modification time) occurred when it was seen."""
    return ItemChanged(
        event_id=event_id,
        occurred_at=change.occurred_at or now,
        captured_at=now,
        source=Source(system="exchange", position=position),
        entity=entity,
        op=change.op,
        crm_id=crm_id,
        mailbox=mailbox,
        exchange_id=exchange_id,
        changed=change.changed,
        version=change.version,
        previous=change.previous,
        context=change.context,
    )
