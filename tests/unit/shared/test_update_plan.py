"""The update rule shared by both appliers: guarded fields, idempotent replays, results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.events import ItemDelta, Source, System
from shared.update_plan import Plan, plan_update, result_of, superseded_note

T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def delta(target: System, changed: dict[str, Any], expected: dict[str, Any] | None = None) -> ItemDelta:
    return ItemDelta(
        event_id="d1", occurred_at=T, captured_at=T, source=Source(system="crm"), entity="contact", op="update",
        crm_id="c1", mailbox="alice@sandbox.local", changed=changed, target=target, policy_version=1, decided_at=T,
        expected=expected or {},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("current", "expected", "written", "superseded"),
    [
        ({"jobtitle": "A"}, {"jobtitle": "A"}, {"jobtitle": "B"}, {}),  # still holds what was expected
        ({"jobtitle": "B"}, {"jobtitle": "A"}, {}, {}),  # already holds the new value: nothing to write
        ({"jobtitle": "X"}, {"jobtitle": "A"}, {}, {"jobtitle": {"target": "X", "expected": "A"}}),  # changed there
        ({"jobtitle": "X"}, {}, {"jobtitle": "B"}, {}),  # unguarded (one-way, first sync): written over
        ({}, {"jobtitle": "A"}, {"jobtitle": "B"}, {}),  # the target does not say: written
    ],
)
@pytest.mark.parametrize("target", ["crm", "exchange"])
def test_a_guarded_field_is_written_only_while_the_target_holds_what_was_expected(
    target: System, current: dict[str, Any], expected: dict[str, Any], written: dict[str, Any],
    superseded: dict[str, Any],
) -> None:
    plan = plan_update(delta(target, {"jobtitle": "B"}, expected), current, applied_events=[])
    assert (plan.fields, plan.superseded) == (written, superseded)


def test_fields_are_guarded_one_by_one() -> None:
    plan = plan_update(
        delta("crm", {"jobtitle": "B", "nickname": "N2"}, {"jobtitle": "A", "nickname": "N1"}),
        {"jobtitle": "X", "nickname": "N1"}, applied_events=[],
    )  # fmt: skip
    assert plan.fields == {"nickname": "N2"} and set(plan.superseded) == {"jobtitle"}
    assert result_of(plan) == "superseded"
    assert "merge point" in (superseded_note(plan.superseded) or "")


def test_a_delta_already_applied_changes_nothing() -> None:
    plan = plan_update(delta("crm", {"telephone1": "x"}), {}, applied_events=["d1"])
    assert plan.action == "duplicate" and result_of(plan) == "duplicate"


@pytest.mark.parametrize(
    ("plan", "result"),
    [(Plan("write", {"a": 1}), "applied"), (Plan("noop"), "skipped"), (Plan("duplicate"), "duplicate")],
)
def test_results(plan: Plan, result: str) -> None:
    assert result_of(plan) == result
    assert superseded_note(plan.superseded) is None
