"""The convergence benchmark's accounting: where each change ended up, duplicates against the links, conflicts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.accounting import Inventory, conflict_tally, duplicates, outcomes
from infra.sandbox.traffic import TrafficChange
from shared.events import ConflictRecord, ConflictRule, System

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
BOX = "alice@sandbox.local"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(side: str, field: str, value: str, acked: float, record: str | None = None) -> TrafficChange:
    record = record or ("c1" if side == "crm" else "x1")
    mailbox = BOX if side == "exchange" else None
    return TrafficChange(side, "contact", record, mailbox, field, value, at(acked - 0.1), at(acked), at(acked))


def inventory(crm: dict[str, Any], exchange: dict[str, Any], unlinked: dict[str, Any] | None = None) -> Inventory:
    """c1 linked to x1 in alice's mailbox (and c2 to x2, untouched), holding these values; x9 unlinked."""
    items = {"x1": exchange, "x2": {"nickname": "other"}}
    if unlinked is not None:
        items["x9"] = unlinked
    return Inventory(
        records={"contact": {"c1": crm, "c2": {"nickname": "other"}}},
        items={(BOX, "contact"): items},
        links={("contact", "c1"): {BOX: "x1"}, ("contact", "c2"): {BOX: "x2"}},
        item_links={(BOX, "x1"): "contact:c1", (BOX, "x2"): "contact:c2"},
    )


def conflict(winner: System, crm_value: str, exchange_value: str, rule: ConflictRule = "latest",
             field: str = "nickname") -> ConflictRecord:
    return ConflictRecord(
        conflict_id=f"k-{crm_value}-{exchange_value}", decided_at=at(5), entity="contact", crm_id="c1", mailbox=BOX,
        exchange_id="x1", field=field, crm_value=crm_value, exchange_value=exchange_value,
        crm_modified_at=at(1), exchange_modified_at=at(1), rule=rule, winner=winner, policy_version=1,
        causation_id="e1",
    )


def trimmed(_entity: str, _field: str, value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def as_given(_entity: str, _field: str, value: Any) -> Any:
    return value


# (case, changes, final inventory, conflicts, how Exchange stores a value, expected: final/superseded/conflict/lost)
ENDINGS: list[tuple[str, list[TrafficChange], Inventory, list[ConflictRecord], Callable[..., Any], list[str]]] = [
    ("a CRM change both sides hold", [change("crm", "nickname", "a", 1)],
     inventory({"nickname": "a"}, {"nickname": "a"}), [], as_given, ["final"]),
    ("an Exchange change both sides hold", [change("exchange", "nickname", "b", 1)],
     inventory({"nickname": "b"}, {"nickname": "b"}), [], as_given, ["final"]),
    ("held in Exchange's own form", [change("crm", "nickname", "a ", 1)],
     inventory({"nickname": "a "}, {"nickname": "a"}), [], trimmed, ["final"]),
    ("only CRM holds it: lost", [change("crm", "nickname", "a", 1)],
     inventory({"nickname": "a"}, {"nickname": "old"}), [], as_given, ["lost"]),
    ("the two sides of a paired edit, Exchange later and final: the CRM one is superseded",
     [change("crm", "nickname", "a", 1), change("exchange", "nickname", "b", 1.4)],
     inventory({"nickname": "b"}, {"nickname": "b"}), [], as_given, ["superseded", "final"]),
    ("the later Exchange edit lost a recorded conflict to the CRM one",
     [change("crm", "nickname", "a", 1), change("exchange", "nickname", "b", 1.4)],
     inventory({"nickname": "a"}, {"nickname": "a"}), [conflict("crm", "a", "b")], as_given, ["final", "conflict"]),
    ("the later edit overwritten by the earlier one without a conflict: lost",
     [change("crm", "nickname", "a", 1), change("exchange", "nickname", "b", 1.4)],
     inventory({"nickname": "a"}, {"nickname": "a"}), [], as_given, ["final", "lost"]),
    ("a conflict naming the edit's value as the winner is no excuse",
     [change("crm", "nickname", "a", 1), change("exchange", "nickname", "b", 1.4)],
     inventory({"nickname": "a"}, {"nickname": "a"}), [conflict("exchange", "a", "b")], as_given, ["final", "lost"]),
    ("a conflict lost to fieldsync's own write of an older CRM value (an echo) excuses nothing",
     [change("crm", "nickname", "a", 1), change("crm", "nickname", "b", 2)],
     inventory({"nickname": "a"}, {"nickname": "b"}), [conflict("exchange", "b", "a")], as_given,
     ["superseded", "lost"]),
    ("a later change of another field does not account for it",
     [change("crm", "nickname", "a", 1), change("crm", "jobtitle", "t", 2)],
     inventory({"nickname": "z", "jobtitle": "t"}, {"nickname": "z", "jobtitle": "t"}), [], as_given,
     ["lost", "final"]),
    ("a later change of another pair does not account for it",
     [change("crm", "nickname", "a", 1), change("crm", "nickname", "q", 2, record="c2")],
     inventory({"nickname": "z"}, {"nickname": "z"}), [], as_given, ["lost", "lost"]),
    ("an unlinked item's change only needs its own side",
     [change("exchange", "nickname", "u", 1, record="x9")],
     inventory({"nickname": "z"}, {"nickname": "z"}, unlinked={"nickname": "u"}), [], as_given, ["final"]),
]


@pytest.mark.parametrize(("case", "changes", "final", "conflicts", "form", "expected"), ENDINGS,
                         ids=[row[0] for row in ENDINGS])
def test_where_each_change_ended_up(case: str, changes: list[TrafficChange], final: Inventory,
                                    conflicts: list[ConflictRecord], form: Callable[..., Any],
                                    expected: list[str]) -> None:
    ended = outcomes(changes, final, conflicts, form)
    lost = {id(item.change) for item in ended.lost}
    assert [c for c, how in zip(changes, expected, strict=True) if how == "lost" and id(c) not in lost] == [], case
    assert (ended.final, ended.superseded, ended.conflict, len(ended.lost)) == tuple(
        expected.count(how) for how in ("final", "superseded", "conflict", "lost")), case


def test_a_lost_change_says_what_each_side_holds_instead() -> None:
    [lost] = outcomes([change("crm", "nickname", "a", 1)], inventory({"nickname": "a"}, {"nickname": "old"}), []).lost
    assert "CRM holds 'a'" in lost.describe() and "'old'" in lost.describe()


BASE = inventory({"nickname": "a"}, {"nickname": "a"}, unlinked={"nickname": "u"})


def changed(edit: Callable[[Inventory], None]) -> Inventory:
    final = copy.deepcopy(BASE)
    edit(final)
    return final


# (case, how the final inventory differs from the baseline, expected (items, records) duplicates)
DOUBLES: list[tuple[str, Callable[[Inventory], None], tuple[int, int]]] = [
    ("nothing created", lambda inv: None, (0, 0)),
    ("a second copy of an item, linked to nothing", lambda inv: inv.items[(BOX, "contact")].update(x3={}), (1, 0)),
    ("a second item linked to the same record", lambda inv: (inv.items[(BOX, "contact")].update(x3={}),
                                                            inv.item_links.update({(BOX, "x3"): "contact:c1"})),
     (1, 0)),
    ("an item whose link moved to a copy", lambda inv: (inv.items[(BOX, "contact")].update(x3={}),
                                                        inv.item_links.pop((BOX, "x1")),
                                                        inv.item_links.update({(BOX, "x3"): "contact:c1"}),
                                                        inv.links.update({("contact", "c1"): {BOX: "x3"}})), (1, 0)),
    ("a record created for an item already linked", lambda inv: (inv.records["contact"].update(c3={}),
                                                                 inv.links.update({("contact", "c3"): {BOX: "x1"}})),
     (0, 1)),
    ("a record linked to nothing", lambda inv: inv.records["contact"].update(c3={}), (0, 1)),
]


@pytest.mark.parametrize(("case", "edit", "expected"), DOUBLES, ids=[row[0] for row in DOUBLES])
def test_duplicates_are_counted_against_the_links(case: str, edit: Callable[[Inventory], None],
                                                  expected: tuple[int, int]) -> None:
    found = duplicates(BASE, changed(edit))
    assert (found.items, found.records) == expected, case
    assert len(found.examples) == found.total


def test_conflicts_are_tallied_by_rule_and_winner() -> None:
    records = [conflict("crm", "a", "b"), conflict("exchange", "c", "d"), conflict("crm", "e", "f"),
               conflict("crm", "g", "h", rule="crm_wins")]
    assert conflict_tally(records) == {"crm_wins: crm won": 1, "latest: crm won": 2, "latest: exchange won": 1}
