"""apply: validation, idempotency, results and DeltaApplied timings (the guarded update rule: shared.update_plan)."""

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
        (Plan("write", {"a": 1}, {"b": {}}), "superseded"),
        (Plan("noop", {}, {"b": {}}), "superseded"),
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
