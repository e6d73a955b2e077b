"""Explain (pure): what happened to a record's fields for a mailbox, and why, from the kept decisions and results.

Each change is one SyncDecision (its causation_id is the change); each target it names got a delta whose id
derives from the change (shared.event_ids), and the appliers' DeltaApplied name that id: that is the join.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.event_ids import delta_id
from shared.events import (
    ApplyResult,
    ConflictRecord,
    DeltaApplied,
    Effect,
    FieldOutcome,
    Origin,
    Reason,
    SyncDecision,
    System,
    TargetNote,
)

# One sentence per reason a field did not sync; a decision's own detail sentence (the security reasons) wins.
REASONS: dict[str, str] = {
    "direction": "the field's sync direction (changeable in the policy) does not flow to this target",
    "fixed": "the field's direction is fixed by Dynamics and does not flow to this target",
    "out_of_scope": "the record is outside this mailbox's sync filter (owner, active contact)",
    "untracked": "the mailbox item is not tracked (no tracking category): nothing syncs between it and CRM",
    "echo": "fieldsync's own write coming back: nothing moves",
    "unmapped": "the field (or the entity) has no counterpart on this target",
    "unchanged": "the change did not touch this field",
    "security": "the mailbox user's security does not allow it",
    "conflict": "the field changed on both sides since they last agreed and the other side's value won",
    "no_privilege": "the mailbox's user holds no role privilege for this entity",
    "no_access": "the mailbox's user's access does not reach this record",
    "field_security": "the field is secured and the mailbox's user may not use it",
}
SYNCED = "synced: the change was sent to the target"
RESULTS: dict[str, str] = {
    "applied": "written",
    "duplicate": "already applied (a replay): nothing changed",
    "conflict_resolved": "written: a conflict's winning value",
    "superseded": "partly not written: the target changed those fields meanwhile, the merge point decides",
    "skipped": "nothing to write: the target already held these values",
    "failed": "not written",
    "denied": "CRM refused the write under the mailbox user's privileges",
}


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class FieldView(_View):
    field: str
    target: System
    mailbox: str | None = None
    synced: bool
    reason: Reason | None = None
    sentence: str


class ResultView(_View):
    """What an applier did with the delta: the result, when, what it wrote, and why it failed."""

    result: ApplyResult
    sentence: str
    applied_at: datetime
    written: dict[str, Any] = Field(default_factory=dict)
    written_version: str | None = None
    error: str | None = None
    dead_letter: str | None = None  # the dead letter the delta became (to show or replay), when one is kept


class TargetView(_View):
    target: System
    mailbox: str | None = None
    effect: Effect | None = None
    note: str
    detail: str | None = None
    results: list[ResultView] = Field(default_factory=list)


class ConflictView(_View):
    field: str
    mailbox: str
    rule: str
    winner: System
    crm_value: Any = None
    exchange_value: Any = None


class ChangeView(_View):
    """One change of the item as the policy decided it, and what the targets made of it."""

    change_id: str | None
    source: System
    op: str
    origin: Origin
    mailbox: str | None = None
    exchange_id: str | None = None
    occurred_at: datetime
    captured_at: datetime
    decided_at: datetime
    policy_version: int
    fields: list[FieldView]
    targets: list[TargetView]
    conflicts: list[ConflictView] = Field(default_factory=list)


class Explanation(_View):
    entity: str
    crm_id: str | None = None
    mailbox: str | None = None
    exchange_id: str | None = None
    field: str | None = None
    links: dict[str, str] = Field(default_factory=dict)  # mailbox -> Exchange id of the record's linked items
    changes: list[ChangeView]


def field_sentence(outcome: FieldOutcome) -> str:
    if outcome.synced:
        return SYNCED
    if outcome.detail:
        return outcome.detail
    return REASONS.get(outcome.reason or "", outcome.reason or "not synced")


def result_view(applied: DeltaApplied, field: str | None = None, dead_letter: str | None = None) -> ResultView:
    sentence = RESULTS.get(applied.result, applied.result)
    if applied.error and applied.result in ("failed", "denied", "superseded", "skipped"):
        sentence = f"{sentence}: {applied.error}"
    return ResultView(
        result=applied.result, sentence=sentence, applied_at=applied.applied_at,
        written={k: v for k, v in applied.changed.items() if field in (None, k)},
        written_version=applied.written_version, error=applied.error,
        dead_letter=dead_letter if applied.result == "failed" else None,
    )


def merged(decisions: Iterable[SyncDecision]) -> list[SyncDecision]:
    """One decision per event id, the lanes' outcomes and notes put back together (each lane kept its own)."""
    by_id: dict[str, SyncDecision] = {}
    for decision in decisions:
        known = by_id.get(decision.event_id)
        if known is None:
            by_id[decision.event_id] = decision
            continue
        outcomes = (*known.outcomes, *(o for o in decision.outcomes if o not in known.outcomes))
        notes = (*known.notes, *(n for n in decision.notes if n not in known.notes))
        by_id[decision.event_id] = known.model_copy(update={"outcomes": outcomes, "notes": notes})
    return list(by_id.values())


def _delta_id(decision: SyncDecision, note: TargetNote) -> str:
    """The id of the delta the policy sent for this note (shared.event_ids), as plan.py names its mailbox."""
    mailbox = (note.mailbox or decision.mailbox) if note.target == "crm" else (note.mailbox or "")
    return delta_id(decision.causation_id or "", note.target, mailbox)


def _wanted(mailbox_of: str | None, mailbox: str | None) -> bool:
    return mailbox is None or (mailbox_of or "").lower() == mailbox.lower()


def change_view(
    decision: SyncDecision,
    applied: dict[str, list[DeltaApplied]],
    conflicts: list[ConflictRecord],
    mailbox: str | None,
    field: str | None,
    letters: dict[str, str] | None = None,
) -> ChangeView | None:
    """One decision's view for the filters; None when the filters leave nothing of it."""
    def lane(of: str | None, target: System) -> str | None:
        return of or (decision.mailbox if target == "crm" else None)

    fields = [
        FieldView(field=o.field, target=o.target, mailbox=o.mailbox, synced=o.synced, reason=o.reason,
                  sentence=field_sentence(o))
        for o in decision.outcomes
        if o.reason != "unchanged" and field in (None, o.field) and _wanted(lane(o.mailbox, o.target), mailbox)
    ]
    targets = []
    for note in decision.notes:
        if not _wanted(lane(note.mailbox, note.target), mailbox):
            continue
        results = sorted(applied.get(_delta_id(decision, note), []), key=lambda a: a.applied_at)
        if field is not None:
            results = [r for r in results if field in r.changed or r.result not in ("applied", "conflict_resolved")]
        views = [result_view(r, field, (letters or {}).get(r.causation_id or "")) for r in results]
        targets.append(TargetView(target=note.target, mailbox=note.mailbox, effect=note.effect, note=note.reason,
                                  detail=note.detail, results=views))
    found = [
        ConflictView(field=c.field, mailbox=c.mailbox, rule=c.rule, winner=c.winner, crm_value=c.crm_value,
                     exchange_value=c.exchange_value)
        for c in conflicts
        if c.causation_id == decision.causation_id and field in (None, c.field) and _wanted(c.mailbox, mailbox)
    ]
    if field is not None and not fields and not found:
        return None
    if mailbox is not None and not fields and not targets and not found:
        return None
    return ChangeView(
        change_id=decision.causation_id, source=decision.source.system, op=decision.op, origin=decision.origin,
        mailbox=decision.mailbox, exchange_id=decision.exchange_id, occurred_at=decision.occurred_at,
        captured_at=decision.captured_at, decided_at=decision.decided_at, policy_version=decision.policy_version,
        fields=fields, targets=targets, conflicts=found,
    )


def explain(
    decisions: Iterable[SyncDecision],
    applied: Iterable[DeltaApplied],
    conflicts: Iterable[ConflictRecord],
    *,
    mailbox: str | None = None,
    field: str | None = None,
    limit: int = 20,
    letters: dict[str, str] | None = None,
) -> list[ChangeView]:
    """The item's recent changes for the filters, newest first, at most `limit`; `letters` maps a delta id to the
    dead letter it became."""
    by_delta: dict[str, list[DeltaApplied]] = {}
    seen: set[str] = set()
    for result in applied:
        if result.event_id not in seen and result.causation_id:
            seen.add(result.event_id)
            by_delta.setdefault(result.causation_id, []).append(result)
    kept = list(conflicts)
    views = []
    for decision in sorted(merged(decisions), key=lambda d: d.decided_at, reverse=True):
        view = change_view(decision, by_delta, kept, mailbox, field, letters)
        if view is not None:
            views.append(view)
        if len(views) >= limit:
            break
    return views
