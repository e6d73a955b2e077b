"""The policy store contract on a real redis-server: seeding, atomic versioned changes, history, reset, rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from shared import redis_keys
from shared.catalogue import load_catalogue
from shared.events import Policy
from shared.policy_store import (
    ConflictRuleChange,
    DirectionChange,
    HistoryEntry,
    PolicyNotSeeded,
    PolicyStore,
    VersionConflict,
    default_conflict_rules,
)

pytestmark = pytest.mark.integration

CATALOGUE = load_catalogue()
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def phone(direction: str) -> DirectionChange:
    return DirectionChange.model_validate({"entity": "contact", "field": "telephone1", "direction": direction})


async def test_concurrent_seeding_stores_one_version_1(redis: Redis) -> None:
    stores = [PolicyStore(redis) for _ in range(5)]
    seeded = await asyncio.gather(
        *(store.load_or_seed(CATALOGUE, T0 + timedelta(seconds=i)) for i, store in enumerate(stores))
    )
    assert len({p.model_dump_json() for p in seeded}) == 1
    assert seeded[0].version == 1 and seeded[0].directions == CATALOGUE.default_directions()
    assert await stores[0].history(0, 10) == ([], 0)
    await stores[0].apply([phone("none")], "a", T0)
    assert (await stores[1].load_or_seed(CATALOGUE, T0)).version == 2  # never re-seeds over a policy


async def test_apply_before_seeding_is_refused(redis: Redis) -> None:
    store = PolicyStore(redis)
    assert await store.get() is None
    with pytest.raises(PolicyNotSeeded):
        await store.apply([phone("none")], "a", T0)


async def test_apply_bumps_one_version_and_audits_each_field(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    task = DirectionChange(entity="task", field="subject", direction="to_crm")
    policy = await store.apply([phone("to_exchange"), task], "alice", T0 + timedelta(minutes=1))
    assert (policy.version, policy.updated_by, policy.updated_at) == (2, "alice", T0 + timedelta(minutes=1))
    assert await store.get() == policy
    entries, total = await store.history(0, 10)
    assert total == 2
    assert {(e.version, e.actor, e.entity, e.field, e.old, e.new) for e in entries} == {
        (2, "alice", "contact", "telephone1", "both", "to_exchange"),
        (2, "alice", "task", "subject", "both", "to_crm"),
    }
    unchanged = await store.change([phone("to_exchange")], "bob", T0)
    assert not unchanged.changed and unchanged.policy == policy
    assert (await store.history(0, 10))[1] == 2


async def test_stale_expected_version_changes_nothing(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    await store.apply([phone("none")], "a", T0, expected_version=1)
    with pytest.raises(VersionConflict) as caught:
        await store.apply([phone("to_crm")], "b", T0, expected_version=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    policy = await store.get()
    assert policy is not None and policy.version == 2 and policy.direction("contact", "telephone1") == "none"
    assert (await store.history(0, 10))[1] == 1


async def test_concurrent_writers_without_expected_version_all_land(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    fields = ["telephone1", "telephone2", "mobilephone", "jobtitle", "nickname", "pager"]
    writers = [PolicyStore(redis) for _ in fields]
    await asyncio.gather(*(
        writer.apply([DirectionChange(entity="contact", field=f, direction="none")], f"w{i}", T0)
        for i, (writer, f) in enumerate(zip(writers, fields, strict=True))
    ))
    policy = await store.get()
    assert policy is not None and policy.version == 1 + len(fields)
    assert all(policy.direction("contact", f) == "none" for f in fields)
    entries, total = await store.history(0, 100)
    assert total == len(fields) and sorted(e.version for e in entries) == list(range(2, 2 + len(fields)))


async def test_history_pages_newest_first(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    for direction in ("none", "to_crm", "to_exchange", "both", "none"):
        await store.apply([phone(direction)], "a", T0)
    pages = [await store.history(offset, 2) for offset in (0, 2, 4, 6)]
    assert [[e.version for e in page] for page, _ in pages] == [[6, 5], [4, 3], [2], []]
    assert {total for _, total in pages} == {5}
    with pytest.raises(ValueError):
        await store.history(0, 0)


async def test_reset_restores_defaults_as_one_version(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    await store.apply([phone("none"), DirectionChange(entity="fax", field="subject", direction="to_crm")], "a", T0)
    outcome = await store.restore_defaults(CATALOGUE, "admin", T0 + timedelta(hours=1))
    assert outcome.policy.version == 3 and outcome.policy.directions == CATALOGUE.default_directions()
    assert {(e.entity, e.field, e.old, e.new) for e in outcome.entries} == {
        ("contact", "telephone1", "none", "both"), ("fax", "subject", "to_crm", "both"),
    }
    assert (await store.reset(CATALOGUE, "admin", T0)).version == 3  # already defaults: no new version
    assert await redis.llen(redis_keys.POLICY_HISTORY) == 4


def rule(entity: str, value: str) -> ConflictRuleChange:
    return ConflictRuleChange.model_validate({"entity": entity, "rule": value})


async def test_seeding_stores_the_default_rule_for_every_entity(redis: Redis) -> None:
    policy = await PolicyStore(redis).load_or_seed(CATALOGUE, T0)
    assert policy.conflict_rules == {name: "latest" for name in CATALOGUE.entities}
    assert len(policy.conflict_rules) == 8


async def test_a_rule_change_is_a_version_with_its_own_kind_of_entry(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    outcome = await store.change([], "alice", T0 + timedelta(minutes=1), rules=[rule("contact", "crm_wins")])
    assert outcome.policy.version == 2 and outcome.policy.conflict_rule("contact") == "crm_wins"
    assert outcome.policy.directions == CATALOGUE.default_directions()
    entry = outcome.entries[0]
    assert (entry.kind, entry.version, entry.actor, entry.entity, entry.field, entry.old, entry.new) == (
        "conflict_rule", 2, "alice", "contact", None, "latest", "crm_wins",
    )
    assert await store.get() == outcome.policy
    assert (await store.history(0, 10))[0] == [entry]
    again = await store.change([], "bob", T0, rules=[rule("contact", "crm_wins"), rule("task", "latest")])
    assert not again.changed and again.policy.version == 2


async def test_directions_and_rules_change_together_or_not_at_all(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    both = await store.change([phone("none")], "a", T0, 1, rules=[rule("task", "exchange_wins")])
    assert both.policy.version == 2
    assert {(e.kind, e.entity, e.new) for e in both.entries} == {
        ("direction", "contact", "none"), ("conflict_rule", "task", "exchange_wins"),
    }
    with pytest.raises(VersionConflict):
        await store.change([phone("to_crm")], "b", T0, 1, rules=[rule("task", "crm_wins")])
    policy = await store.get()
    assert policy == both.policy and (await store.history(0, 10))[1] == 2


async def test_reset_puts_every_rule_back_to_latest(redis: Redis) -> None:
    store = PolicyStore(redis)
    await store.load_or_seed(CATALOGUE, T0)
    await store.apply([phone("none")], "a", T0, rules=[rule("contact", "crm_wins"), rule("fax", "exchange_wins")])
    outcome = await store.restore_defaults(CATALOGUE, "admin", T0 + timedelta(hours=1))
    assert outcome.policy.version == 3 and outcome.policy.conflict_rules == default_conflict_rules(CATALOGUE)
    assert {(e.kind, e.entity, e.old, e.new) for e in outcome.entries} == {
        ("direction", "contact", "none", "both"),
        ("conflict_rule", "contact", "crm_wins", "latest"),
        ("conflict_rule", "fax", "exchange_wins", "latest"),
    }
    assert not (await store.restore_defaults(CATALOGUE, "admin", T0)).changed


async def test_a_policy_and_history_stored_before_conflict_rules_still_read_and_change(redis: Redis) -> None:
    """Stored by the previous release: no conflict_rules in the policy, no kind in the history entries."""
    old_policy = {"version": 4, "updated_at": T0.isoformat(), "updated_by": "a",
                  "directions": CATALOGUE.default_directions()}
    old_entry = {"version": 4, "actor": "a", "at": T0.isoformat(), "entity": "contact", "field": "telephone1",
                 "old": "none", "new": "both"}
    await redis.set(redis_keys.POLICY, json.dumps(old_policy))
    await redis.rpush(redis_keys.POLICY_HISTORY, json.dumps(old_entry))
    store = PolicyStore(redis)
    policy = await store.load_or_seed(CATALOGUE, T0)
    assert policy.version == 4 and policy.conflict_rules == {} and policy.conflict_rule("task") == "latest"
    assert not (await store.restore_defaults(CATALOGUE, "b", T0)).changed  # every rule is already `latest`
    assert not (await store.change([], "b", T0, rules=[rule("task", "latest")])).changed
    changed = await store.change([], "b", T0, rules=[rule("task", "crm_wins")])
    assert changed.policy.version == 5 and changed.policy.conflict_rules == {"task": "crm_wins"}
    entries, total = await store.history(0, 10)
    assert total == 2 and entries[1] == HistoryEntry(
        version=4, actor="a", at=T0, kind="direction", entity="contact", field="telephone1", old="none", new="both"
    )
    assert Policy.model_validate_json(await redis.get(redis_keys.POLICY) or b"") == changed.policy


@pytest.mark.parametrize(
    "entry",
    [
        {"kind": "direction", "entity": "contact", "old": "both", "new": "none"},  # a direction needs a field
        {"kind": "conflict_rule", "entity": "contact", "field": "telephone1", "old": "latest", "new": "crm_wins"},
        {"kind": "conflict_rule", "entity": "contact", "old": "latest", "new": "none"},
        {"kind": "direction", "entity": "contact", "field": "telephone1", "old": "both", "new": "crm_wins"},
        {"kind": "direction", "entity": "contact", "field": "telephone1", "old": "latest", "new": "both"},
    ],
)
def test_a_history_entry_is_one_kind_or_the_other(entry: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="entry needs"):
        HistoryEntry.model_validate({"version": 2, "actor": "a", "at": T0, **entry})
