"""The change window's entries: bounded by count and age, JSON round trip, and a replay that decides a recorded
change exactly as the live rules did, under the security answers it was decided under (recorded_security.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from services.policy.decide import decide
from services.policy.merge import FieldState
from services.policy.reconcile import PairStates, reconcile
from services.policy.recorded_security import Recording, Replayed
from services.policy.replay import entry_of, replay, stored_as
from services.policy.security import Security
from services.policy.verdict import Facts
from services.policy.window_writer import Recorded, WindowWriter, encoded
from shared.change_window import ChangeWindow, SecurityFacts, WindowEntry, within
from shared.events import ItemChanged
from tests.policy_builders import ALICE, CATALOGUE, NOW, crm, every_field, exchange, linked, policy
from tests.security_rows import SALES, Org

EARLIER = NOW - timedelta(seconds=5)


def organisation() -> tuple[Security, dict[str, str]]:
    """alice: Salesperson who may not read contact description; idle: no role at all."""
    org = Org()
    seller = org.role("Salesperson", SALES)
    ids = {"alice": org.user("alice", None, seller), "idle": org.user("idle")}
    org.secure("contact", "description")
    return org.security(), ids


SECURITY, IDS = organisation()


def owned(by: str, op: str, changed: dict[str, Any]) -> ItemChanged:
    return crm("contact", op, changed, ownerid=IDS[by], owner_mailbox=f"{by}@sandbox.local", statecode=0)


def live(change: ItemChanged, facts: Facts, states: PairStates) -> tuple[Any, WindowEntry]:
    """Decide as the handler does, recording the security answers; returns the decision and the window entry."""
    asked = Recording(SECURITY)
    decision = decide(change, CATALOGUE.entity(change.entity), policy(), facts, NOW, asked)
    decided = reconcile(change, decision, states, "latest", stored_as(change.entity)).decision
    return decided, entry_of(change, facts, states, asked.facts(), 7, NOW)


def held(value: Any, side: str = "crm") -> FieldState:
    return FieldState(value, EARLIER, side, {"crm": value, "exchange": value})  # type: ignore[arg-type]


CASES = [
    ("create for a user who may not read a field", owned("alice", "create", every_field("contact")), Facts(), {}),
    ("update of a linked pair, one field already agreed",
     owned("alice", "update", {"telephone1": "2", "jobtitle": "x"}), linked(ALICE),
     {("contact", "r1", ALICE): {"telephone1": held("2")}}),
    ("a user without any role", owned("idle", "create", every_field("contact")), Facts(), {}),
    ("an Outlook edit of a linked contact", exchange("contact", "update", {"telephone1": "9"}),
     linked(ALICE, crm={"@ownerid": IDS["alice"], "telephone1": "1"}), {}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "facts", "states"), CASES, ids=[c[0] for c in CASES])
def test_a_replay_decides_a_recorded_change_as_the_live_rules_did(
    name: str, change: ItemChanged, facts: Facts, states: PairStates
) -> None:
    decided, entry = live(change, facts, states)
    stored = WindowEntry.model_validate_json(entry.model_dump_json())
    assert stored == entry
    # What the writer encodes off the decision path reads back as the same entry.
    handed = Recorded(change, facts, states, entry.facts.security, 7, NOW)
    assert WindowEntry.model_validate_json(encoded(handed)) == entry
    # No live tables at all: the recorded answers alone decide it.
    assert replay(stored, CATALOGUE, policy(), fallback=None) == decided


def test_the_recorded_answers_name_what_was_asked() -> None:
    _, entry = live(owned("alice", "create", every_field("contact")), Facts(), {})
    facts = entry.facts.security
    assert facts.round == SECURITY.round and facts.users == {ALICE: IDS["alice"]}
    assert [(r.user, r.verb, r.allowed) for r in facts.records] == [(IDS["alice"], "Read", True)]
    [rights] = facts.fields
    assert "description" in rights.unreadable


def test_a_question_never_asked_goes_to_the_fallback_or_is_allowed() -> None:
    replayed = Replayed(SecurityFacts(round=1), fallback=None)
    assert replayed.user_of("nobody@sandbox.local") == "nobody@sandbox.local"
    assert replayed.record("u", "contact", "r1", None, "Write").allowed
    with_tables = Replayed(SecurityFacts(round=1), fallback=SECURITY)
    assert with_tables.user_of(ALICE) == IDS["alice"]
    assert not with_tables.record(IDS["idle"], "contact", "r1", IDS["alice"], "Read").allowed


def entry(at_s: float, event_id: str) -> WindowEntry:
    change = crm("contact", "update", {"telephone1": "1"}).model_copy(update={"event_id": event_id})
    return WindowEntry(change=change, decided_at=NOW - timedelta(seconds=at_s), policy_version=1)


# within(entries newest first, now, max_age_s, max_entries) -> oldest first
WINDOWS = [
    ("all young, under the count", [(1, "c"), (2, "b"), (3, "a")], 60, 10, ["a", "b", "c"]),
    ("the count is smaller", [(1, "c"), (2, "b"), (3, "a")], 60, 2, ["b", "c"]),
    ("the age is smaller", [(1, "c"), (30, "b"), (90, "a")], 60, 10, ["b", "c"]),
    ("exactly at the age limit stays", [(60, "a")], 60, 10, ["a"]),
    ("nothing recorded", [], 60, 10, []),
    ("no entries allowed", [(1, "a")], 60, 0, []),
]  # fmt: skip


@pytest.mark.parametrize(("name", "given", "age", "count", "expected"), WINDOWS, ids=[w[0] for w in WINDOWS])
def test_the_window_is_the_last_n_or_the_last_h_whichever_is_fewer(
    name: str, given: list[tuple[float, str]], age: float, count: int, expected: list[str]
) -> None:
    kept = within([entry(s, i) for s, i in given], NOW, age, count)
    assert [e.change.event_id for e in kept] == expected


class FlakyWindow(ChangeWindow):
    """A window whose pushes fail while `down`, and otherwise keep what was pushed (no Redis: a fake port)."""

    def __init__(self, max_entries: int) -> None:
        super().__init__(None, max_entries)  # type: ignore[arg-type]
        self.down = False
        self.pushed: list[str] = []

    async def push(self, raws: Sequence[str]) -> None:
        if self.down:
            raise ConnectionError("redis away")
        self.pushed.extend(raws)


def handed(event_id: str) -> Recorded:
    change = crm("contact", "update", {"telephone1": "1"}).model_copy(update={"event_id": event_id})
    return Recorded(change, Facts(), {}, SecurityFacts(), 7, NOW)


async def test_the_writer_batches_keeps_the_newest_while_redis_is_away_and_writes_them_after() -> None:
    window = FlakyWindow(max_entries=3)
    writer = WindowWriter(window)
    window.down = True
    for n in range(5):
        writer.add(handed(f"e{n}"))
    assert await writer.flush() == 0
    writer.add(handed("e5"))
    window.down = False
    assert await writer.flush() == 3 and await writer.flush() == 0
    assert [WindowEntry.model_validate_json(raw).change.event_id for raw in window.pushed] == ["e3", "e4", "e5"]


async def test_a_window_of_no_entries_keeps_nothing() -> None:
    window = FlakyWindow(max_entries=0)
    writer = WindowWriter(window)
    writer.add(handed("e1"))
    assert await writer.flush() == 0 and window.pushed == []
