"""The update rule shared by both appliers: later wins, a tie goes to CRM, conflicts keep both values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.events import ItemDelta, Source, System
from shared.update_plan import plan_update, target_is_newer

T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("target", "modified_at", "newer"),
    [
        ("crm", None, False),
        ("exchange", None, False),
        ("crm", T - timedelta(seconds=1), False),
        ("exchange", T - timedelta(seconds=1), False),
        ("crm", T, True),  # a tie goes to CRM: CRM keeps its value
        ("exchange", T, False),  # ... and CRM's value is written to Exchange
        ("crm", T + timedelta(seconds=1), True),
        ("exchange", T + timedelta(seconds=1), True),
    ],
)
def test_later_wins_and_a_tie_goes_to_crm(target: System, modified_at: datetime | None, newer: bool) -> None:
    assert target_is_newer(target, modified_at, T) is newer


def delta(target: System, changed: dict[str, object]) -> ItemDelta:
    return ItemDelta(
        event_id="d1", occurred_at=T, captured_at=T, source=Source(system="crm"), entity="contact", op="update",
        crm_id="c1", mailbox="alice@sandbox.local", changed=changed, target=target, policy_version=1, decided_at=T,
    )


@pytest.mark.parametrize("target", ["crm", "exchange"])
def test_a_newer_target_edit_is_kept_and_recorded_with_both_values(target: System) -> None:
    source = "exchange" if target == "crm" else "crm"
    plan = plan_update(
        delta(target, {"telephone1": "from source", "jobtitle": "Buyer"}),
        current={"telephone1": "edited on target", "jobtitle": "Clerk"},
        modified_at=T + timedelta(seconds=5),
        base={"telephone1": "as last synced", "jobtitle": "Clerk"},
        applied_events=[],
    )
    assert plan.fields == {"jobtitle": "Buyer"}
    assert plan.conflicts == {"telephone1": {target: "edited on target", source: "from source"}}


def test_a_delta_already_applied_changes_nothing() -> None:
    plan = plan_update(delta("crm", {"telephone1": "x"}), {}, None, {}, applied_events=["d1"])
    assert plan.action == "duplicate"
