"""Verdicts: the shapes a decision takes, and the per-field rule (direction, fixed, unmapped) every target shares.

Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.catalogue import EntitySpec, effective_direction
from shared.events import (
    TRACKABLE,
    TRACKING_CATEGORY,
    Direction,
    Effect,
    FieldOutcome,
    ItemChanged,
    Op,
    Policy,
    Reason,
    System,
)
from shared.org_settings import governed_note

__all__ = ["TRACKABLE", "TRACKING_CATEGORY", "Decision", "Facts", "TargetDecision", "Tracking"]
# What the handler must remember about a mailbox item after a decision (services/policy/tracking.py).
Tracking = Literal["untrack", "retrack"]
ACTIVE = 0  # statecode of an active CRM record
FLOWS: Mapping[System, frozenset[Direction]] = {
    "exchange": frozenset({"both", "to_exchange"}),
    "crm": frozenset({"both", "to_crm"}),
}


@dataclass(frozen=True)
class Facts:
    """What the loop knows beyond the change: counterparts and last known values (from Redis snapshots)."""

    links: Mapping[str, str] = field(default_factory=dict)  # mailbox -> exchange_id of the CRM record
    crm_values: Mapping[str, Any] = field(default_factory=dict)  # last known CRM values of the record
    exchange_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # mailbox -> values
    # Mailboxes whose item of this record (or the changed item itself) is remembered as untracked.
    untracked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TargetDecision:
    """One target's verdict: the op to write (None: nothing) and the fields allowed through."""

    target: System
    mailbox: str | None
    op: Op | None
    fields: Mapping[str, Any]
    outcomes: tuple[FieldOutcome, ...]
    exchange_id: str | None = None
    note: str | None = None  # why a delete or a write was withheld, for explain
    keep_item: bool = False  # with op "delete": only the link goes, the mailbox keeps its item
    # Per field, what the target is believed to hold (merge.py): the write of that field is guarded by it.
    expected: Mapping[str, Any] = field(default_factory=dict)
    # CRM targets: the systemuserid the write acts as (MSCRMCallerID); on a mailbox target, that mailbox's user
    # (the merge point's write-back to CRM of a conflict the mailbox won acts as them).
    acting_user: str | None = None
    # Changed fields the mailbox's user may not read: the merge point clears them where the mailbox holds
    # fieldsync's value (security.py, reconcile.py).
    hidden: frozenset[str] = frozenset()
    # Why the target is withheld or left, in a sentence (scope: the filters evaluated, or the security sentence).
    detail: str | None = None

    @property
    def effect(self) -> Effect | None:
        if self.op == "delete" and self.keep_item:
            return "unlink"
        return self.op


@dataclass(frozen=True)
class Decision:
    targets: tuple[TargetDecision, ...]
    tracking: Tracking | None = None  # the change (un)tracked its mailbox item: the handler remembers it

    @property
    def writes(self) -> tuple[TargetDecision, ...]:
        return tuple(t for t in self.targets if t.op is not None)

    @property
    def outcomes(self) -> tuple[FieldOutcome, ...]:
        return tuple(o for t in self.targets for o in t.outcomes)


def field_reason(spec: EntitySpec, policy: Policy, key: str, target: System) -> Reason | None:
    """None when the field flows to `target`, else why it does not. The appointment attachments pair follows the
    organisation setting sync_appointment_attachments (effective_direction): off, it is fixed at `none`."""
    pair = spec.field(key)
    if pair is None or not pair.writable(target):
        return "unmapped"  # no counterpart, or one that side can never be written (shared.catalogue)
    if effective_direction(pair, policy, spec.name) in FLOWS[target]:
        return None
    return "direction" if pair.changeable else "fixed"


def outcomes_for(
    spec: EntitySpec | None,
    policy: Policy,
    change: ItemChanged,
    target: System,
    mailbox: str | None,
    blocked: Reason | None = None,
    detail: str | None = None,
) -> tuple[tuple[FieldOutcome, ...], dict[str, Any]]:
    """Every field's outcome for one target (changed fields, then the rest as unchanged) and the allowed values;
    `blocked` (with its sentence, `detail`) is every changed field's reason when the whole target is withheld."""
    outcomes: list[FieldOutcome] = []
    allowed: dict[str, Any] = {}
    for key, value in change.changed.items():
        reason = "unmapped" if spec is None else blocked or field_reason(spec, policy, key, target)
        said = detail if blocked and reason == blocked else None
        if said is None and spec is not None and reason in ("fixed", "unmapped"):
            said = governed_note(spec.name, key, policy.settings)
        outcomes.append(
            FieldOutcome(field=key, target=target, mailbox=mailbox, synced=reason is None, reason=reason, detail=said)
        )
        if reason is None:
            allowed[key] = value
    if spec is not None and change.op != "delete":
        outcomes.extend(
            FieldOutcome(field=p.key, target=target, mailbox=mailbox, synced=False, reason="unchanged")
            for p in spec.fields
            if p.key not in change.changed
        )
    return tuple(outcomes), allowed
