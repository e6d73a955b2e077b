"""exchange_applier.apply: validation, keys, tracking, results (the guarded update rule: shared.update_plan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.exchange_applier.apply import (
    APPLIED_EVENTS_KEPT,
    Plan,
    applied_event,
    creation_marker,
    item_key,
    remember,
    result_of,
    retry_delay,
    self_contained,
    validate,
    with_tracking,
    without_tracking,
)
from shared.events import TRACKING_CATEGORY, ItemDelta, Source
from shared.exchange import fields as exchange_fields

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def delta(**overrides: Any) -> ItemDelta:
    values: dict[str, Any] = {
        "event_id": "d1", "occurred_at": T0, "captured_at": T0, "source": Source(system="crm"),
        "entity": "appointment", "op": "update", "crm_id": "c1", "mailbox": "a@x.test",
        "changed": {"subject": "New", "location": "Room 2"}, "target": "exchange", "policy_version": 1,
        "decided_at": T0,
    }
    return ItemDelta(**{**values, **overrides})


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        ({"target": "crm"}, "not 'exchange'"),
        ({"mailbox": None}, "needs a mailbox"),
        ({"entity": "fax"}, "no Exchange mapping"),
        ({"crm_id": None}, "needs crm_id or exchange_id"),
        ({"crm_id": None, "exchange_id": "X"}, None),
        ({"changed": {"prioritycode": 9}}, "prioritycode"),
        ({"changed": {"organizer": "a@x.test", "attachments": []}}, None),  # reported, not refused
    ],
)
def test_validate(overrides: dict[str, Any], reason: str | None) -> None:
    found = validate(delta(**overrides))
    assert (found is None) if reason is None else (found is not None and reason in found)


def test_item_keys_follow_the_topic_contract() -> None:
    assert item_key(delta()) == "a@x.test:appointment:c1"
    assert item_key(delta(crm_id=None, exchange_id="X")) == "a@x.test:appointment:x-X"


@pytest.mark.parametrize(
    ("plan", "result"),
    [(Plan("duplicate"), "duplicate"), (Plan("write", {"a": 1}), "applied"), (Plan("noop"), "skipped"),
     (Plan("write", {"a": 1}, {"b": {}}), "superseded")],
)
def test_results(plan: Plan, result: str) -> None:
    assert result_of(plan) == result


def test_remember_is_bounded_and_keeps_newest_last() -> None:
    events = remember([str(n) for n in range(APPLIED_EVENTS_KEPT)], "new")
    assert len(events) == APPLIED_EVENTS_KEPT and events[-1] == "new" and events[0] == "1"
    assert remember(["a", "b"], "a") == ["b", "a"]


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [(1, None, 0.2), (3, None, 0.8), (10, None, 10.0), (1, 2.5, 2.5), (1, 60.0, 10.0), (2, 0.0, 0.0)],
)
def test_retry_delay_honours_the_server_up_to_the_cap(attempt: int, retry_after: float | None, expected: float) -> None:
    assert retry_delay(attempt, retry_after, 0.2, 10.0) == pytest.approx(expected)


def test_applied_event_carries_timings_and_causation() -> None:
    event = applied_event(delta(), event_id="e", result="applied", applied_at=T0 + timedelta(seconds=1),
                          exchange_id="X", written={"subject": "New"}, written_version="ck2")
    assert event.causation_id == "d1" and event.exchange_id == "X" and event.target == "exchange"
    assert (event.occurred_at, event.decided_at, event.applied_at) == (T0, T0, T0 + timedelta(seconds=1))
    assert event.written_version == "ck2" and event.origin == "fieldsync"


@pytest.mark.parametrize(
    ("entity", "attributes", "categories"),
    [
        ("appointment", {"subject": "s"}, [TRACKING_CATEGORY]),
        ("task", {"subject": "s", "categories": ["Red"]}, ["Red", TRACKING_CATEGORY]),
        ("task", {"categories": [TRACKING_CATEGORY, "Red"]}, ["Red", TRACKING_CATEGORY]),  # never twice
        ("contact", {"given_name": "Ann"}, None),  # contacts are never tracked by category
    ],
)
def test_created_appointments_and_tasks_carry_the_tracking_category(
    entity: str, attributes: dict[str, Any], categories: list[str] | None
) -> None:
    created = with_tracking(entity, attributes)
    assert created.get("categories") == categories
    assert {k: v for k, v in created.items() if k != "categories"} == {
        k: v for k, v in attributes.items() if k != "categories"
    }


@pytest.mark.parametrize(
    ("held", "kept"),
    [
        ([TRACKING_CATEGORY], []),
        (["Red", TRACKING_CATEGORY, "Blue"], ["Red", "Blue"]),  # the user's categories stay
        (["Red"], None),  # nothing to change: no write
        (None, None),
    ],
)
def test_an_unlinked_item_loses_only_the_tracking_category(held: list[str] | None, kept: list[str] | None) -> None:
    assert without_tracking(held) == kept


def test_a_delete_that_keeps_the_item_is_valid_and_keyed_like_the_item() -> None:
    unlink = delta(op="delete", changed={}, keep_item=True, exchange_id="X")
    assert validate(unlink) is None and item_key(unlink) == "a@x.test:appointment:c1"


def test_single_properties_can_be_written_unread_indexed_entries_cannot() -> None:
    def check(entity: str, changed: dict[str, Any]) -> bool:
        return self_contained(entity, changed, exchange_fields.to_exchange(entity, changed).attributes)

    assert check("contact", {"jobtitle": "CTO", "department": "R&D", "nickname": None})
    assert check("appointment", {"subject": "s", "location": "l"})
    assert check("task", {"subject": "s"})
    assert not check("contact", {"telephone1": "+1 555"})  # phone_numbers is written whole
    assert not check("contact", {"jobtitle": "CTO", "emailaddress1": "a@example.test"})
    assert not check("contact", {"address1_composite": {"address1_city": "Paris"}})
    assert not self_contained("contact", ["nosuchfield"], {})


def test_the_creation_marker_is_the_same_for_every_attempt_at_one_items_create_and_differs_otherwise() -> None:
    create = delta(op="create")
    assert creation_marker(create) == creation_marker(delta(op="create", event_id="another attempt"))
    assert creation_marker(create) == creation_marker(delta(op="create", mailbox="A@X.test"))
    others = [delta(op="create", crm_id="c2"), delta(op="create", mailbox="b@x.test"),
              delta(op="create", entity="task")]
    assert len({creation_marker(create), *map(creation_marker, others)}) == 4
    unlinked = delta(op="create", crm_id=None, exchange_id=None)  # no CRM record: one marker per delta
    assert creation_marker(unlinked) == creation_marker(unlinked)
    assert creation_marker(unlinked) != creation_marker(delta(op="create", crm_id=None, event_id="d2"))
