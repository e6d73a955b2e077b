"""Reconcile: a decision's writes for linked pairs, passed through the merge point (merge.py), target by target.

Pure: no I/O, no clock (`now` is passed), no logging. decide.py says what may flow where (directions, scope,
tracking); this module says what must be written so that both sides of every pair end equal:

| target's op      | pair                       | result                                                           |
|------------------|----------------------------|------------------------------------------------------------------|
| update           | CRM record and the mailbox | merge.merge: guarded writes to the target, a write-back to the   |
|                  |                            | change's own side for each conflict it lost, conflicts recorded  |
| create           | new pair                   | every written field agreed from now on (any older state dropped) |
| update, retracked| the item tracked again     | the same: the mailbox item as it is now is what both sides hold  |
| delete / unlink  | the pair ends              | its state is dropped                                             |
| none             | linked pair                | only what the change's side holds is remembered                  |
| hidden fields    | linked pair                | where the mailbox holds fieldsync's value of a field its user may|
|                  |                            | no longer read: written as null, and its state forgotten         |
| write-back       | linked pair (security)     | passed through; the change's side is remembered holding it       |

A field of the change that lost a conflict is reported `conflict`; one both sides already agree on, `unchanged`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.policy.merge import Conflict, FieldState, Merged, StoredAs, as_given, created, merge
from services.policy.verdict import Decision, TargetDecision
from shared.events import ConflictRecord, ConflictRule, FieldOutcome, ItemChanged
from shared.links import counterpart_id

CONFLICT_NAMESPACE = uuid.UUID("3d4b8f0a-52c6-4f0e-a1b7-9c2e6d5f1a84")
Pair = tuple[str, str, str]  # (entity, crm_id, mailbox)
PairStates = Mapping[Pair, Mapping[str, FieldState]]


@dataclass(frozen=True)
class Reconciled:
    decision: Decision
    # pair -> the fields whose state changed (merged into the stored state), or None: the pair ended.
    updates: dict[Pair, dict[str, FieldState] | None] = field(default_factory=dict)
    fresh: frozenset[Pair] = frozenset()  # pairs created by this change: their older state, if any, goes first
    conflicts: tuple[tuple[Pair, str | None, Conflict], ...] = ()  # (pair, exchange_id, conflict)
    # pair -> fields cleared from the mailbox because its user may no longer read them: their state is forgotten,
    # so they flow again (as new) once readable.
    forgotten: dict[Pair, frozenset[str]] = field(default_factory=dict)


def pairs_of(change: ItemChanged, decision: Decision) -> list[Pair]:
    """The pairs a decision touches, to load their state before reconciling."""
    return [p for p in (_pair(change, t) for t in decision.targets) if p is not None]


def _pair(change: ItemChanged, target: TargetDecision) -> Pair | None:
    if change.source.system == "crm":
        return (change.entity, change.crm_id, target.mailbox) if change.crm_id and target.mailbox else None
    if not change.mailbox or not change.exchange_id:
        return None
    crm_id = change.crm_id or (counterpart_id(change.mailbox, change.exchange_id) if target.op == "create" else None)
    return (change.entity, crm_id, change.mailbox) if crm_id else None


def _outcomes(target: TargetDecision, merged: Merged) -> tuple[FieldOutcome, ...]:
    lost = {c.field for c in merged.conflicts if c.field in merged.back}
    adjusted = []
    for outcome in target.outcomes:
        if outcome.synced and outcome.field in lost:
            outcome = outcome.model_copy(update={"synced": False, "reason": "conflict"})
        elif outcome.synced and outcome.field in merged.settled:
            outcome = outcome.model_copy(update={"synced": False, "reason": "unchanged"})
        adjusted.append(outcome)
    return tuple(adjusted)


def _merged_targets(change: ItemChanged, target: TargetDecision, merged: Merged) -> list[TargetDecision]:
    """The target with only the fields that must be written, guarded; and the write-back, if any."""
    note = target.note
    if not merged.forward:
        note = "conflict_lost" if merged.back else "already_agreed"
    forward = replace(
        target, op="update" if merged.forward else None, fields=merged.forward, expected=merged.forward_expected,
        outcomes=_outcomes(target, merged), note=note,
    )
    if not merged.back and not merged.again:
        return [forward]
    fields, expected = {**merged.again, **merged.back}, {**merged.again_expected, **merged.back_expected}
    if change.source.system == "crm":  # CRM's change lost to the mailbox's: CRM gets the mailbox's value back
        back = TargetDecision("crm", target.mailbox, "update", fields, (), target.exchange_id,
                              "conflict_writeback", expected=expected, acting_user=target.acting_user)
    else:
        back = TargetDecision("exchange", change.mailbox, "update", fields, (), change.exchange_id,
                              "conflict_writeback", expected=expected)
    return [forward, back]


def _cleared(target: TargetDecision, state: Mapping[str, FieldState]) -> dict[str, Any]:
    """The hidden fields the mailbox holds fieldsync's value of: key -> what it holds (the clear's guard)."""
    found: dict[str, Any] = {}
    for key in sorted(target.hidden):
        current = state.get(key)
        if current is not None and current.held.get("exchange", current.agreed) is not None:
            found[key] = current.held.get("exchange", current.agreed)
    return found


def _clearing(target: TargetDecision, merged: Merged, cleared: Mapping[str, Any]) -> tuple[TargetDecision, Merged]:
    """The forward write also sets each cleared field to null, and the cleared fields' outcomes say so."""
    outcomes = tuple(
        o.model_copy(update={"detail": f"{o.detail}; cleared from the mailbox item"}) if o.field in cleared else o
        for o in target.outcomes
    )
    note = "security_cleared" if target.note in (None, "nothing_allowed") and not merged.forward else target.note
    target = replace(target, op="update", outcomes=outcomes, note=note)
    state = {k: v for k, v in merged.state.items() if k not in cleared}
    merged = replace(merged, forward={**merged.forward, **dict.fromkeys(cleared)},
                     forward_expected={**merged.forward_expected, **cleared}, state=state)  # fmt: skip
    return target, merged


def reconcile(
    change: ItemChanged, decision: Decision, states: PairStates, rule: ConflictRule, stored_as: StoredAs = as_given
) -> Reconciled:
    """Pass every write of `decision` through the merge point of its pair."""
    side = change.source.system
    targets: list[TargetDecision] = []
    updates: dict[Pair, dict[str, FieldState] | None] = {}
    conflicts: list[tuple[Pair, str | None, Conflict]] = []
    fresh: set[Pair] = set()
    forgotten: dict[Pair, frozenset[str]] = {}
    writebacks: list[tuple[Pair, TargetDecision]] = []
    for target in decision.targets:
        pair = _pair(change, target)
        if pair is None:
            targets.append(target)
            continue
        if target.target == side:  # a write-back decided upstream (security): this side will hold its values
            writebacks.append((pair, target))
            targets.append(target)
        elif target.op == "delete":
            updates[pair] = None
            targets.append(target)
        elif target.op == "create" or target.note == "retracked":  # re-tracked: the item as it is now wins
            updates[pair] = created(side, target.fields, change.occurred_at, stored_as)
            fresh.add(pair)
            targets.append(target)
        else:
            flows = target.fields if target.op == "update" else {}
            # The target's fields may hold more than the change (a re-tracked item sends its whole snapshot).
            merged = merge(side, {**change.changed, **flows}, change.previous, change.occurred_at, flows,
                           states.get(pair, {}), rule, stored_as)
            cleared = _cleared(target, states.get(pair, {}))
            if cleared:
                target, merged = _clearing(target, merged, cleared)
                forgotten[pair] = frozenset(cleared)
            updates[pair] = merged.state
            exchange_id = change.exchange_id if side == "exchange" else target.exchange_id
            conflicts.extend((pair, exchange_id, c) for c in merged.conflicts)
            targets.extend(_merged_targets(change, target, merged) if target.op == "update" else [target])
    for pair, target in writebacks:
        _held_after(updates, states, pair, side, target)
    return Reconciled(replace(decision, targets=tuple(targets)), updates, frozenset(fresh), tuple(conflicts),
                      forgotten)  # fmt: skip


def _held_after(
    updates: dict[Pair, dict[str, FieldState] | None], states: PairStates, pair: Pair, side: str, target: TargetDecision
) -> None:
    """After a write-back, `side` holds its values: the next write to that side is guarded by them."""
    changed = updates.get(pair)
    if changed is None and pair in updates:
        return  # the pair ended
    changed = {} if changed is None else changed
    for key, value in target.fields.items():
        current = changed.get(key) or states.get(pair, {}).get(key)
        if current is not None:
            changed[key] = replace(current, held={**current.held, side: value})
    updates[pair] = changed


def conflict_records(
    change: ItemChanged, reconciled: Reconciled, rule: ConflictRule, policy_version: int, now: datetime
) -> list[ConflictRecord]:
    """Every conflict the change revealed, with a deterministic id (a replayed change records it once)."""
    records = []
    for (entity, crm_id, mailbox), exchange_id, conflict in reconciled.conflicts:
        conflict_id = uuid.uuid5(CONFLICT_NAMESPACE, f"{change.event_id}/{mailbox}/{conflict.field}")
        records.append(ConflictRecord(
            conflict_id=str(conflict_id), decided_at=now, entity=entity, crm_id=crm_id, mailbox=mailbox,
            exchange_id=exchange_id, field=conflict.field, crm_value=conflict.values["crm"],
            exchange_value=conflict.values["exchange"], crm_modified_at=conflict.times["crm"],
            exchange_modified_at=conflict.times["exchange"], rule=rule, winner=conflict.winner,
            policy_version=policy_version, causation_id=change.event_id,
        ))  # fmt: skip
    return records
