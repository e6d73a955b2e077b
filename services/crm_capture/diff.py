"""What changed in a CRM row since it was last seen: only changed fields, deletes, echo dropped (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.catalogue import EntitySpec
from shared.crm.fields import Row, canonical_datetime
from shared.crm.snapshot import (
    ATTRIBUTES,
    DELETED,
    OWNER,
    OWNER_MAILBOX,
    STATE,
    VERSION,
    Echo,
    Snapshot,
    fields_of,
    is_older,
    snapshot_of,
)
from shared.events import ItemChanged, Op, Origin, Source
from shared.item_state import holds


@dataclass(frozen=True)
class Change:
    """One change to publish (the pure part of an ItemChanged)."""

    op: Op
    changed: dict[str, Any]
    context: dict[str, Any]
    version: str | None
    origin: Origin = "user"
    occurred_at: str | None = None  # the row's modifiedon, canonical; None for deletes
    previous: dict[str, Any] = field(default_factory=dict)  # each changed field's value in the last snapshot


@dataclass(frozen=True)
class Diff:
    """The change to publish (None: nothing to say) and the snapshot to store once it is published."""

    change: Change | None
    snapshot: Snapshot
    # The row is older than the snapshot (an applier wrote after the page was read): nothing to say and nothing
    # to store; the applier's write is after the page's delta token, so the next poll returns the row again.
    stale: bool = False


def diff_row(
    spec: EntitySpec, previous: Snapshot | None, row: Row, owner_mailbox: str | None, echo: Echo | None
) -> Diff:
    """Compare a live row with its last snapshot.

    - no snapshot: a create with every field;
    - otherwise only the fields whose canonical value differs, each with its snapshot value (`previous`);
      an owner or statecode change sends every field (for a new owner's mailbox it is a create) with
      previous_owner_mailbox in context;
    - echo: an applier records what it is about to write (version unknown) and then the version it
      produced. While the echo's version is unknown or is the row's, the fields holding exactly what
      fieldsync wrote are dropped, and what is left is a change made by someone else. Who the row says
      made the change never counts: a person's change made with fieldsync's credentials is a change
      (sync-semantics 7), and an echo that slips through is recognised by value at the merge point.
    - a row older than the snapshot (read before an applier's write that is already recorded) is stale: diffing
      it would report fieldsync's newer values as changed back to the old ones.
    """
    if is_older(row, previous):
        assert previous is not None
        return Diff(None, previous, stale=True)
    current = snapshot_of(spec, row, owner_mailbox)
    fields = fields_of(current)
    context: dict[str, Any] = {"ownerid": current[OWNER], "owner_mailbox": owner_mailbox, "statecode": current[STATE],
                               "attributes": current[ATTRIBUTES]}  # fmt: skip
    version = current[VERSION]
    occurred_at = canonical_datetime(row.get("modifiedon"))
    if echo is not None and echo.version == version and echo.before:
        occurred_at = echo.before  # the last modification is fieldsync's own: what is left was made before it
    if previous is None:
        if echo is not None and _created_by_fieldsync(echo, fields, version):
            return Diff(None, current)  # fieldsync created this row and has not stored its snapshot yet
        return Diff(Change("create", fields, context, version, "user", occurred_at), current)
    changed = {key: value for key, value in fields.items() if key not in previous or previous[key] != value}
    echoed: set[str] = set()
    if echo is not None:
        echoed = {key for key, value in changed.items() if holds(echo, key, value, version)}
        changed = {key: value for key, value in changed.items() if key not in echoed}
    owner_changed = OWNER in previous and previous[OWNER] != current[OWNER]
    state_changed = STATE in previous and previous[STATE] != current[STATE] and not _state_echoed(spec, echoed)
    if owner_changed:
        context["previous_owner_mailbox"] = previous.get(OWNER_MAILBOX)
    if owner_changed or state_changed:
        return Diff(Change("update", fields, context, version, "user", occurred_at, _before(previous, fields)), current)
    if not changed:
        return Diff(None, current)
    return Diff(Change("update", changed, context, version, "user", occurred_at, _before(previous, changed)), current)


def _created_by_fieldsync(echo: Echo, fields: dict[str, Any], version: str | None) -> bool:
    recorded = (echo.version is None or echo.version == version) and all(
        fields.get(k) == v for k, v in echo.values.items()
    )
    announced = bool(echo.announced) and all(fields.get(k) == v for k, v in echo.announced.items())
    return recorded or announced


def _before(previous: Snapshot, changed: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's value of each changed field it holds: what this side held before the change."""
    return {key: previous[key] for key in changed if key in previous}


def _state_echoed(spec: EntitySpec, echoed: set[str]) -> bool:
    """The statecode change came with a status field fieldsync itself wrote."""
    return any(pair.key in echoed for pair in spec.fields if "statecode" in pair.crm_attributes)


def diff_delete(previous: Snapshot | None, echo: Echo | None = None) -> Change | None:
    """A deleted row: op delete with the context last seen (so the policy knows whose mailbox it was in);
    None when fieldsync deleted it itself."""
    if echo is not None and echo.version == DELETED:
        return None
    previous = previous or {}
    context = {
        "ownerid": previous.get(OWNER),
        "owner_mailbox": previous.get(OWNER_MAILBOX),
        "statecode": previous.get(STATE),
    }
    return Change("delete", {}, context, None)


def to_event(
    change: Change, entity: str, crm_id: str, *, event_id: str, now: datetime, position: str | None
) -> ItemChanged:
    """The ItemChanged for a change; a delete (no modifiedon) occurred when it was seen."""
    occurred = datetime.fromisoformat(change.occurred_at.replace("Z", "+00:00")) if change.occurred_at else now
    return ItemChanged(
        event_id=event_id,
        occurred_at=occurred,
        captured_at=now,
        source=Source(system="crm", position=position),
        entity=entity,
        op=change.op,
        crm_id=crm_id,
        changed=change.changed,
        origin=change.origin,
        version=change.version,
        previous=change.previous,
        context=change.context,
    )
