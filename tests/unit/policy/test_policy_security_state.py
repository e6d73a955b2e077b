"""The security the policy decides under (security_state.py): nothing before a first complete round, a round decided
under once its last event is in, replays of older rounds skipped, other workers' rounds followed, and a change that
needs a round not known yet waiting and then failing as transient. A contract suite: here against a fake store,
in tests/integration/test_security_store.py against the real one on a redis-server (the same test functions)."""

from __future__ import annotations

from typing import Any

import pytest

from services.policy.security_model import Tables
from services.policy.security_state import SecurityPending, SecurityState
from shared.events import SecurityChanged
from shared.failures import is_transient
from tests.policy_builders import NOW
from tests.security_rows import everyone_admin


class FakeStore:
    """The SecurityStore's behaviour in memory: staged rows move into the tables when a round completes."""

    def __init__(self) -> None:
        self.tables, self.round = Tables(), 0
        self.staged: dict[tuple[str, str], SecurityChanged] = {}

    async def stored_round(self) -> int:
        return self.round

    async def stage(self, event: SecurityChanged) -> None:
        self.staged[(event.table, event.principal.lower())] = event

    async def complete(self, tables: Tables, round_: int) -> Tables:
        changes = [(e.table, e.principal, e.row, e.deleted) for e in self.staged.values()]
        self.tables, self.round, self.staged = tables.apply_all(changes), round_, {}
        return self.tables

    async def load(self) -> tuple[Tables, int]:
        return self.tables, self.round


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def state(store: Any, wait_s: float = 0.0) -> SecurityState:
    return SecurityState(store, wait_s)


async def test_nothing_is_known_before_a_first_complete_round(store: Any) -> None:
    security = state(store)
    await security.load()
    events = everyone_admin("alice").events(1)
    for event in events[:-1]:
        await security.on_event(event)
    with pytest.raises(SecurityPending) as raised:
        await security.ready()
    assert is_transient(raised.value)  # retried with backoff by the policy's loop, never dead-lettered
    await security.on_event(events[-1])
    ready = await security.ready()
    assert ready.round == 1 and ready.user_of("alice@sandbox.local") is not None
    assert await store.stored_round() == 1


async def test_a_refresh_waits_for_its_round(store: Any) -> None:
    security = state(store)
    for event in everyone_admin("alice").events(1):
        await security.on_event(event)
    with pytest.raises(SecurityPending, match="security round 2 is not known yet"):
        await security.ready(2)


async def test_a_replayed_older_round_is_skipped(store: Any) -> None:
    security = state(store)
    for event in everyone_admin("alice").events(5):
        await security.on_event(event)
    older = everyone_admin("bob").events(4)
    for event in older:
        await security.on_event(event)
    ready = await security.ready()
    assert ready.round == 5 and ready.user_of("bob@sandbox.local") is None
    assert "bob@sandbox.local" not in str((await store.load())[0].rows["systemusers"])


async def test_a_round_another_worker_stored_is_followed(store: Any) -> None:
    receiver, follower = state(store), state(store, wait_s=1.0)
    await follower.load()
    for event in everyone_admin("alice").events(1):
        await receiver.on_event(event)
    ready = await follower.ready()  # polls the store until the round shows
    assert ready.round == 1 and ready.user_of("alice@sandbox.local") is not None


async def test_a_deleted_row_goes(store: Any) -> None:
    security = state(store)
    org = everyone_admin("alice")
    for event in org.events(1):
        await security.on_event(event)
    user = next(iter(org.rows["systemusers"]))
    gone = SecurityChanged(event_id="d", occurred_at=NOW, principal=user, table="systemusers", deleted=True, round=2,
                           last_in_round=True)  # fmt: skip
    await security.on_event(gone)
    assert (await security.ready(2)).user_of("alice@sandbox.local") is None
