"""Convergence of the pure rules: random interleavings of edits on both sides, capture timings, applier retries
and redeliveries, run through the merge point (merge.py) and the appliers' update rule (shared.update_plan).

The model is one linked pair. Each side has its values, an item modification time (fieldsync's writes move it
too, as in Dynamics and Exchange), and its capture's snapshot (which the applier updates after its own writes,
so an echo is never reported). Changes reach the merge point in the order they were captured (one partition);
deltas reach each side in order, possibly twice (a replay before the merge state was committed, or a
redelivery to the applier). After a drain both sides hold the same values, every conflict's winner follows the
entity's rule, and with `latest` every field holds its latest edit.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from services.policy.merge import Conflict, FieldState, created, merge, winner_of
from shared.events import CONFLICT_RULES, ConflictRule, ItemDelta, Source, System
from shared.update_plan import plan_update, remember

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SIDES: tuple[System, System] = ("crm", "exchange")


def other(side: System) -> System:
    return "exchange" if side == "crm" else "crm"


class Pair:
    """Both sides of one linked pair, their captures, the merge point and the appliers, as pure state."""

    def __init__(self, fields: tuple[str, ...], rule: ConflictRule) -> None:
        self.fields, self.rule = fields, rule
        self.values: dict[System, dict[str, Any]] = {s: dict.fromkeys(fields, "initial") for s in SIDES}
        self.snapshot: dict[System, dict[str, Any]] = {s: dict.fromkeys(fields, "initial") for s in SIDES}
        self.modified: dict[System, datetime] = dict.fromkeys(SIDES, T0)
        self.state: dict[str, FieldState] = created("crm", dict.fromkeys(fields, "initial"), T0)
        self.changes: deque[tuple[System, dict[str, Any], dict[str, Any], datetime]] = deque()
        self.deltas: dict[System, deque[ItemDelta]] = {s: deque() for s in SIDES}
        self.applied: dict[System, list[str]] = {s: [] for s in SIDES}
        self.conflicts: list[Conflict] = []
        self.edits: list[tuple[datetime, System, str, Any]] = []
        self.clock = itertools.count(1)
        self.ids = itertools.count(1)

    def tick(self) -> datetime:
        return T0 + timedelta(seconds=next(self.clock))

    def edit(self, side: System, key: str) -> None:
        now = self.tick()
        value = f"{side}-{key}-{now.timestamp():.0f}"
        self.values[side][key] = value
        self.modified[side] = now
        self.edits.append((now, side, key, value))

    def capture(self, side: System) -> None:
        changed = {k: v for k, v in self.values[side].items() if self.snapshot[side].get(k) != v}
        if changed:
            previous = {k: self.snapshot[side][k] for k in changed}
            self.changes.append((side, changed, previous, self.modified[side]))
            self.snapshot[side] = dict(self.values[side])

    def decide(self, replayed: bool) -> None:
        side, changed, previous, occurred_at = self.changes.popleft()
        merged = merge(side, changed, previous, occurred_at, set(self.fields), self.state, self.rule)
        outputs = [(other(side), merged.forward, merged.forward_expected), (side, merged.back, merged.back_expected)]
        deltas = [(target, self._delta(target, fields, expected)) for target, fields, expected in outputs if fields]
        for _ in range(2 if replayed else 1):  # a replay before the commit plans the very same deltas
            for target, delta in deltas:
                self.deltas[target].append(delta)
        self.state.update(merged.state)
        self.conflicts.extend(merged.conflicts)

    def _delta(self, target: System, fields: dict[str, Any], expected: dict[str, Any]) -> ItemDelta:
        return ItemDelta(
            event_id=f"d{next(self.ids)}", occurred_at=T0, captured_at=T0, source=Source(system=other(target)),
            entity="contact", op="update", crm_id="c1", mailbox="a@x", changed=fields, target=target,
            policy_version=1, decided_at=T0, expected=expected,
        )  # fmt: skip

    def apply(self, side: System, redelivered: bool) -> None:
        delta = self.deltas[side].popleft()
        if redelivered:
            self.deltas[side].appendleft(delta)  # delivered again after this attempt
        plan = plan_update(delta, self.values[side], self.applied[side])
        if plan.action == "write":
            self.values[side].update(plan.fields)
            self.snapshot[side].update(plan.fields)  # the applier records what it wrote: no echo
            self.modified[side] = self.tick()
        if plan.action != "duplicate":
            self.applied[side] = remember(self.applied[side], delta.event_id)

    def drain(self) -> None:
        for _ in range(100):
            for side in SIDES:
                self.capture(side)
            if not self.changes and not any(self.deltas.values()):
                return
            while self.changes:
                self.decide(replayed=False)
            for side in SIDES:
                while self.deltas[side]:
                    self.apply(side, redelivered=False)
        raise AssertionError("the pair never settled")

    def latest_edit(self, key: str) -> Any:
        # latest by time; a tie (not produced by this clock) would go to CRM
        edits = [e for e in self.edits if e[2] == key]
        return max(edits, key=lambda e: (e[0], e[1] == "crm"))[3] if edits else "initial"


class Interleavings(RuleBasedStateMachine):
    @initialize(rule_name=st.sampled_from(CONFLICT_RULES), fields=st.sampled_from([("f",), ("f", "g")]))
    def start(self, rule_name: ConflictRule, fields: tuple[str, ...]) -> None:
        self.pair = Pair(fields, rule_name)

    @rule(side=st.sampled_from(SIDES), index=st.integers(0, 1))
    def edit(self, side: System, index: int) -> None:
        self.pair.edit(side, self.pair.fields[index % len(self.pair.fields)])

    @rule(side=st.sampled_from(SIDES))
    def capture(self, side: System) -> None:
        self.pair.capture(side)

    @precondition(lambda self: bool(self.pair.changes))
    @rule(replayed=st.booleans())
    def decide(self, replayed: bool) -> None:
        self.pair.decide(replayed)

    @precondition(lambda self: any(self.pair.deltas.values()))
    @rule(side=st.sampled_from(SIDES), redelivered=st.booleans())
    def apply(self, side: System, redelivered: bool) -> None:
        if self.pair.deltas[side]:
            self.pair.apply(side, redelivered)

    @invariant()
    def winners_follow_the_rule(self) -> None:
        for conflict in self.pair.conflicts:
            assert conflict.winner == winner_of(self.pair.rule, conflict.times)

    def teardown(self) -> None:
        pair = self.pair
        pair.drain()
        assert pair.values["crm"] == pair.values["exchange"], (pair.values, pair.edits)
        assert {k: s.agreed for k, s in pair.state.items()} == pair.values["crm"]
        if pair.rule == "latest" and pair.fields == ("f",):
            assert pair.values["crm"]["f"] == pair.latest_edit("f"), (pair.values, pair.edits)


TestInterleavings = Interleavings.TestCase
TestInterleavings.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


@settings(max_examples=300, deadline=None)
@given(
    rule_name=st.sampled_from(CONFLICT_RULES),
    first=st.sampled_from(SIDES),
    steps=st.lists(st.sampled_from(["capture-crm", "capture-exchange", "decide", "apply-crm", "apply-exchange"]),
                   max_size=12),
)  # fmt: skip
def test_a_two_sided_edit_is_one_recorded_conflict_whose_winner_both_sides_end_with(
    rule_name: ConflictRule, first: System, steps: list[str]
) -> None:
    """Both sides edit the same field before either edit was synced: whatever happens next, in whichever order,
    it is exactly one conflict, decided by the rule, and both sides end with the winner's value."""
    pair = Pair(("f",), rule_name)
    pair.edit(first, "f")
    pair.edit(other(first), "f")
    for step in steps:
        if step.startswith("capture"):
            pair.capture(step.removeprefix("capture-"))  # type: ignore[arg-type]
        elif step == "decide" and pair.changes:
            pair.decide(replayed=False)
        elif step.startswith("apply") and pair.deltas[side := step.removeprefix("apply-")]:  # type: ignore[index]
            pair.apply(side, redelivered=False)  # type: ignore[arg-type]
    pair.drain()
    [conflict] = pair.conflicts
    times = {side: t for t, side, _, _ in pair.edits}
    assert conflict.times == times and conflict.winner == winner_of(rule_name, times)
    winner_value = next(v for _, side, _, v in pair.edits if side == conflict.winner)
    assert pair.values["crm"] == pair.values["exchange"] == {"f": winner_value}
