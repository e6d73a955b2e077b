"""The merge point's rule: one side's change of a linked pair against the pair's per-field last agreed values.

Pure: no I/O, no clock, no logging. sync-semantics 7: for each linked pair (CRM record, mailbox) and field
that flows, the pair keeps the *last agreed value* (what both sides hold once that field last synced), the
source time and side of the change that set it, and what each side is believed to hold now (`held`, in that
side's own stored form: Exchange keeps some values lossily). A change of side S reports each changed field's
new value and the value S held before (`previous`, as its capture last saw it):

| field's state                                   | S's change                                   | result           |
|-------------------------------------------------|----------------------------------------------|------------------|
| nothing agreed yet                              | any                                          | flows            |
| agreed                                          | equals the agreed value                      | settled          |
| agreed by S's own earlier change                | any other value                              | flows            |
| agreed by the other side O                      | made on top of it (previous == held by S)    | flows            |
| agreed by O, not yet seen by S                  | made from an older value                     | conflict         |

A field that flows is written to O, guarded by what O is believed to hold (the applier writes it only while O
still holds that: otherwise O changed it meanwhile and O's change is on its way here). A conflict is decided by
the entity's rule (`winner`); the winner's value is written to the loser side, guarded by the loser's value,
so both sides end equal. When S's change wins while S is believed to hold another value (a write to S, such as
an earlier conflict's write-back, is on its way and S has not reported it yet), S's value is written to S again
(`again`), guarded by that value: a write-back still queued would otherwise land after this decision and leave S
with the value that just lost (seen in bench/convergence.py); where nothing is queued, it finds S holding its
value and writes nothing. A field that does not flow S -> O only updates what S holds (a one-way field edited on
the non-source side is not a conflict; the next change on the source side overwrites it, sync-semantics 1).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.events import ConflictRule, System

# How a side stores a value of a field (Exchange keeps some values lossily): (side, field, value) -> stored form.
StoredAs = Callable[[System, str, Any], Any]


def as_given(_side: System, _field: str, value: Any) -> Any:
    return value


def other(side: System) -> System:
    return "exchange" if side == "crm" else "crm"


@dataclass(frozen=True)
class FieldState:
    """One field of one linked pair: the last agreed value, the change that set it, and what each side holds."""

    agreed: Any
    at: datetime  # source modification time of the change that set the agreed value
    side: System  # where that change was made
    held: Mapping[str, Any] = field(default_factory=dict)  # side -> the value it is believed to hold now


@dataclass(frozen=True)
class Conflict:
    """The same field changed on both sides since they last agreed, and the side whose value wins."""

    field: str
    values: Mapping[System, Any]  # side -> its value
    times: Mapping[System, datetime]  # side -> source modification time of its change
    winner: System


@dataclass(frozen=True)
class Merged:
    """What one change of a pair leads to: writes to the other side and back to this side, and the new state."""

    forward: dict[str, Any] = field(default_factory=dict)  # to the other side O
    forward_expected: dict[str, Any] = field(default_factory=dict)
    back: dict[str, Any] = field(default_factory=dict)  # to this side S: the values that won against S's change
    back_expected: dict[str, Any] = field(default_factory=dict)
    # To this side S: S's own winning value, over a write-back from an earlier conflict still on its way to S.
    again: dict[str, Any] = field(default_factory=dict)
    again_expected: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    settled: frozenset[str] = frozenset()  # already agreed: nothing to write
    state: dict[str, FieldState] = field(default_factory=dict)  # the new state of every field touched


def winner_of(rule: ConflictRule, times: Mapping[System, datetime]) -> System:
    """`latest`: the later change of that field wins, a tie goes to CRM; or the side the rule names."""
    if rule == "crm_wins":
        return "crm"
    if rule == "exchange_wins":
        return "exchange"
    return "exchange" if times["exchange"] > times["crm"] else "crm"


def _agreed(value: Any, at: datetime, side: System, stored_as: StoredAs, key: str) -> FieldState:
    """Both sides hold `value` now (the other side in its own stored form, once the write lands)."""
    return FieldState(value, at, side, {side: value, other(side): stored_as(other(side), key, value)})


def merge(
    side: System,
    changed: Mapping[str, Any],
    previous: Mapping[str, Any],
    occurred_at: datetime,
    flows: Collection[str],
    state: Mapping[str, FieldState],
    rule: ConflictRule,
    stored_as: StoredAs = as_given,
) -> Merged:
    """Merge one change of side `side` (`changed` with the `previous` values) into the pair's `state`.

    `flows` names the changed fields the policy lets through to the other side (directions, scope, tracking)."""
    opposite = other(side)
    result = Merged()
    conflicts: list[Conflict] = []
    settled: set[str] = set()
    for key, value in changed.items():
        current = state.get(key)
        if key not in flows:
            if current is not None:  # remember what this side holds now: the next write to it is guarded by it
                result.state[key] = replace(current, held={**current.held, side: value})
            continue
        if current is None:
            result.forward[key] = value
            result.state[key] = _agreed(value, occurred_at, side, stored_as, key)
            continue
        if value == current.agreed or value == stored_as(side, key, current.agreed):
            settled.add(key)  # the agreed value (in this side's stored form): fieldsync's own write, or no change
            result.state[key] = replace(current, held={**current.held, side: value})
            continue
        seen_by_side = current.held.get(side, current.agreed)
        concurrent = current.side != side and key in previous and previous[key] != seen_by_side
        if not concurrent:
            result.forward[key] = value
            if opposite in current.held:
                result.forward_expected[key] = current.held[opposite]
            result.state[key] = _agreed(value, occurred_at, side, stored_as, key)
            continue
        times: dict[System, datetime] = {side: occurred_at, opposite: current.at}
        won = winner_of(rule, times)
        conflicts.append(Conflict(key, {side: value, opposite: current.agreed}, times, won))
        if won == side:
            result.forward[key] = value
            result.forward_expected[key] = current.held.get(opposite, current.agreed)
            result.state[key] = _agreed(value, occurred_at, side, stored_as, key)
            if side in current.held and current.held[side] != value:  # a write-back to S is still on its way
                result.again[key] = value
                result.again_expected[key] = current.held[side]
        else:
            result.back[key] = stored_as(side, key, current.agreed)
            result.back_expected[key] = value
            result.state[key] = FieldState(
                current.agreed, current.at, opposite, {**current.held, side: result.back[key]}
            )
    return replace(result, conflicts=tuple(conflicts), settled=frozenset(settled))


def created(
    side: System, values: Mapping[str, Any], occurred_at: datetime, stored_as: StoredAs = as_given
) -> dict[str, FieldState]:
    """A new pair: every field written to the other side on its create is agreed from now on."""
    return {key: _agreed(value, occurred_at, side, stored_as, key) for key, value in values.items()}
