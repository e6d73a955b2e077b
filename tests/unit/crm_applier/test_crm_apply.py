"""apply: validation, idempotency, latest-wins conflicts (tie to CRM), results and DeltaApplied timings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.crm_applier.apply import (
    APPLIED_EVENTS_KEPT,
    Plan,
    applied_event,
    counterpart_id,
    item_key,
    plan_update,
    remember,
    result_of,
    validate,
)
from shared.catalogue import load_catalogue
from shared.events import ItemDelta, Source

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CATALOGUE = load_catalogue()


def delta(**overrides: Any) -> ItemDelta:
    values: dict[str, Any] = {
        "event_id": "d1",
        "occurred_at": T0,
        "captured_at": T0 + timedelta(seconds=1),
        "source": Source(system="exchange"),
        "entity": "contact",
        "op": "update",
        "crm_id": "c1",
        "mailbox": "a@x",
        "exchange_id": "AAA",
        "changed": {"jobtitle": "Engineer", "nickname": "Ada"},
        "target": "crm",
        "policy_version": 3,
        "decided_at": T0 + timedelta(seconds=2),
    }
    values.update(overrides)
    return ItemDelta(**values)


LATER, EARLIER, SAME = T0 + timedelta(minutes=1), T0 - timedelta(minutes=1), T0
KNOWN = {"jobtitle": "Analyst", "nickname": None}


@pytest.mark.parametrize(
    ("current", "modified", "base", "action", "fields", "conflicts"),
    [
        # CRM still holds what we knew: write both
        (KNOWN, LATER, KNOWN, "write", {"jobtitle", "nickname"}, set()),
        # CRM already holds the delta's value: nothing to write for that field
        ({"jobtitle": "Engineer", "nickname": None}, LATER, KNOWN, "write", {"nickname"}, set()),
        ({"jobtitle": "Engineer", "nickname": "Ada"}, LATER, KNOWN, "noop", set(), set()),
        # CRM changed the field after the source change: keep CRM, record the conflict
        ({"jobtitle": "Boss", "nickname": None}, LATER, KNOWN, "write", {"nickname"}, {"jobtitle"}),
        # a tie goes to CRM
        ({"jobtitle": "Boss", "nickname": None}, SAME, KNOWN, "write", {"nickname"}, {"jobtitle"}),
        # CRM changed it before the source change: the later change (the delta) wins
        ({"jobtitle": "Boss", "nickname": None}, EARLIER, KNOWN, "write", {"jobtitle", "nickname"}, set()),
        # nothing known about the field: no evidence of a CRM change, the delta is written
        ({"jobtitle": "Boss", "nickname": None}, LATER, {}, "write", {"jobtitle", "nickname"}, set()),
        # every field in conflict: nothing written
        ({"jobtitle": "Boss", "nickname": "Dee"}, LATER, KNOWN, "noop", set(), {"jobtitle", "nickname"}),
        # the row's time is unknown (first attempt against the snapshot): write
        ({"jobtitle": "Boss", "nickname": None}, None, KNOWN, "write", {"jobtitle", "nickname"}, set()),
    ],
)
def test_plan_update_table(
    current: dict[str, Any],
    modified: datetime | None,
    base: dict[str, Any],
    action: str,
    fields: set[str],
    conflicts: set[str],
) -> None:
    plan = plan_update(delta(), current, modified, base, [])
    assert (plan.action, set(plan.fields), set(plan.conflicts)) == (action, fields, conflicts)
    assert all(plan.fields[k] == delta().changed[k] for k in plan.fields)
    for key in plan.conflicts:
        assert plan.conflicts[key] == {"crm": current[key], "exchange": delta().changed[key]}


def test_a_replayed_delta_changes_nothing() -> None:
    assert plan_update(delta(), KNOWN, LATER, KNOWN, ["d0", "d1"]) == Plan("duplicate")
    # applying again after the write: CRM holds the values, nothing to write
    assert plan_update(delta(event_id="d2"), delta().changed, LATER, KNOWN, ["d1"]).action == "noop"


def test_remember_is_bounded_and_keeps_the_newest() -> None:
    events: list[str] = []
    for n in range(APPLIED_EVENTS_KEPT + 10):
        events = remember(events, f"e{n}")
    assert len(events) == APPLIED_EVENTS_KEPT and events[-1] == f"e{APPLIED_EVENTS_KEPT + 9}"
    assert remember(["a", "b"], "a") == ["b", "a"]


@pytest.mark.parametrize(
    ("plan", "result"),
    [
        (Plan("duplicate"), "duplicate"),
        (Plan("write", {"a": 1}), "applied"),
        (Plan("write", {"a": 1}, {"b": {}}), "conflict_resolved"),
        (Plan("noop", {}, {"b": {}}), "conflict_resolved"),
        (Plan("noop"), "skipped"),
    ],
)
def test_result_of(plan: Plan, result: str) -> None:
    assert result_of(plan) == result


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        ({"op": "create", "crm_id": None}, None),
        ({"op": "delete", "changed": {}}, None),
        ({"target": "exchange"}, "target"),
        ({"entity": "bogus"}, "unknown entity"),
        ({"op": "create", "crm_id": None, "exchange_id": None}, "needs mailbox and exchange_id"),
        ({"crm_id": None, "mailbox": None}, "needs crm_id"),
        ({"changed": {"bogus": 1}}, "not a mapped contact field"),
        ({"changed": {"fullname": "Ada"}}, "composite"),
    ],
)
def test_validate(overrides: dict[str, Any], reason: str | None) -> None:
    found = validate(delta(**overrides), CATALOGUE)
    assert (found is None) if reason is None else (found is not None and reason in found)


def test_keys_and_counterpart_ids_are_stable() -> None:
    assert item_key(delta()) == "contact:c1"
    assert item_key(delta(crm_id=None)) == "contact:x-a@x:AAA"
    assert counterpart_id("A@x", "AAA") == counterpart_id("a@x", "AAA") != counterpart_id("a@x", "AAB")


def test_applied_event_carries_the_timings() -> None:
    now = T0 + timedelta(seconds=3)
    event = applied_event(delta(), event_id="r1", result="applied", applied_at=now, crm_id="c1", written={"a": 1})
    assert (event.occurred_at, event.captured_at, event.decided_at, event.applied_at) == (
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=2),
        now,
    )
    assert (event.causation_id, event.target, event.changed) == ("d1", "crm", {"a": 1})
