"""The merge point's rule, row by row (merge.py's table), and the conflict rules' winners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.policy.merge import FieldState, created, merge, winner_of
from shared.events import ConflictRule, System

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
T1, T2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)


def agreed(value: Any, side: System = "crm", at: datetime = T0, **held: Any) -> FieldState:
    return FieldState(value, at, side, {"crm": value, "exchange": value, **held})


@pytest.mark.parametrize(
    ("rule", "crm_at", "exchange_at", "winner"),
    [
        ("latest", T1, T2, "exchange"),
        ("latest", T2, T1, "crm"),
        ("latest", T1, T1, "crm"),  # a tie goes to CRM
        ("crm_wins", T1, T2, "crm"),
        ("exchange_wins", T2, T1, "exchange"),
    ],
)
def test_winner_of(rule: ConflictRule, crm_at: datetime, exchange_at: datetime, winner: System) -> None:
    assert winner_of(rule, {"crm": crm_at, "exchange": exchange_at}) == winner


def test_nothing_agreed_yet_flows_unguarded() -> None:
    m = merge("crm", {"jobtitle": "B"}, {"jobtitle": "A"}, T1, {"jobtitle"}, {}, "latest")
    assert (m.forward, m.forward_expected, m.back, m.conflicts) == ({"jobtitle": "B"}, {}, {}, ())
    assert m.state["jobtitle"] == FieldState("B", T1, "crm", {"crm": "B", "exchange": "B"})


def test_a_change_on_top_of_the_agreed_value_flows_guarded_by_what_the_other_side_holds() -> None:
    state = {"jobtitle": agreed("A")}
    m = merge("exchange", {"jobtitle": "B"}, {"jobtitle": "A"}, T1, {"jobtitle"}, state, "crm_wins")
    assert (m.forward, m.forward_expected, m.conflicts) == ({"jobtitle": "B"}, {"jobtitle": "A"}, ())
    assert m.state["jobtitle"].agreed == "B" and m.state["jobtitle"].side == "exchange"


def test_the_agreed_value_coming_back_is_settled() -> None:
    """fieldsync's own write seen again (an echo that slipped through), whoever it is attributed to."""
    state = {"jobtitle": agreed("B", side="crm")}
    m = merge("exchange", {"jobtitle": "B"}, {"jobtitle": "A"}, T1, {"jobtitle"}, state, "latest")
    assert (m.forward, m.back, m.settled) == ({}, {}, frozenset({"jobtitle"}))


def test_the_agreed_value_in_the_sides_own_stored_form_is_settled() -> None:
    """Exchange keeps task dates date-only: the agreed datetime comes back as a date."""
    def date_only(side: System, _key: str, value: Any) -> Any:
        return value[:10] + "T00:00:00Z" if side == "exchange" else value

    state = {"due": FieldState("2026-06-02T10:00:00Z", T0, "crm", {"crm": "2026-06-02T10:00:00Z"})}
    m = merge("exchange", {"due": "2026-06-02T00:00:00Z"}, {}, T1, {"due"}, state, "latest", date_only)
    assert m.settled == {"due"} and not m.forward


def test_a_value_a_side_held_without_it_flowing_is_not_settled() -> None:
    """Edited while it did not flow (untracked, one-way): once it flows, it is a change like any other."""
    state = {"jobtitle": FieldState("A", T0, "crm", {"crm": "A", "exchange": "X"})}
    m = merge("exchange", {"jobtitle": "X"}, {}, T1, {"jobtitle"}, state, "latest")
    assert m.forward == {"jobtitle": "X"} and not m.settled


@pytest.mark.parametrize(
    ("rule", "exchange_at", "winner"),
    [("latest", T2, "exchange"), ("latest", T0, "crm"), ("crm_wins", T2, "crm"), ("exchange_wins", T0, "exchange")],
)
def test_a_change_made_before_the_other_sides_change_arrived_is_a_conflict(
    rule: ConflictRule, exchange_at: datetime, winner: System
) -> None:
    """CRM changed A -> C at T1 (agreed, sent to the mailbox); the mailbox changed A -> X meanwhile."""
    state = {"jobtitle": agreed("C", side="crm", at=T1)}
    m = merge("exchange", {"jobtitle": "X"}, {"jobtitle": "A"}, exchange_at, {"jobtitle"}, state, rule)
    [conflict] = m.conflicts
    assert conflict.values == {"crm": "C", "exchange": "X"} and conflict.winner == winner
    assert conflict.times == {"crm": T1, "exchange": exchange_at}
    if winner == "exchange":  # X flows to CRM, guarded by C; agreed X
        assert (m.forward, m.forward_expected, m.back) == ({"jobtitle": "X"}, {"jobtitle": "C"}, {})
        assert m.state["jobtitle"].agreed == "X"
    else:  # the mailbox gets C back, guarded by its own X; agreed stays C
        assert (m.forward, m.back, m.back_expected) == ({}, {"jobtitle": "C"}, {"jobtitle": "X"})
        assert m.state["jobtitle"].agreed == "C" and m.state["jobtitle"].held["exchange"] == "C"


def test_a_change_after_its_own_earlier_change_is_no_conflict() -> None:
    state = {"jobtitle": agreed("C", side="exchange", at=T1)}
    m = merge("exchange", {"jobtitle": "D"}, {"jobtitle": "Z"}, T2, {"jobtitle"}, state, "crm_wins")
    assert m.forward == {"jobtitle": "D"} and not m.conflicts


def test_unknown_previous_value_is_no_conflict() -> None:
    state = {"jobtitle": agreed("C", side="crm", at=T1)}
    m = merge("exchange", {"jobtitle": "X"}, {}, T0, {"jobtitle"}, state, "crm_wins")
    assert m.forward == {"jobtitle": "X"} and not m.conflicts


def test_a_field_that_does_not_flow_only_updates_what_its_side_holds() -> None:
    """A one-way field edited on the non-source side: no conflict, nothing written; the next write to that side
    is guarded by the edit, so the source side's next change overwrites it (sync-semantics 1)."""
    state = {"jobtitle": agreed("A")}
    m = merge("exchange", {"jobtitle": "X"}, {"jobtitle": "A"}, T1, set(), state, "latest")
    assert (m.forward, m.back, m.conflicts) == ({}, {}, ())
    assert m.state["jobtitle"] == FieldState("A", T0, "crm", {"crm": "A", "exchange": "X"})
    later = merge("crm", {"jobtitle": "B"}, {"jobtitle": "A"}, T2, {"jobtitle"}, m.state, "latest")
    assert (later.forward, later.forward_expected, later.conflicts) == ({"jobtitle": "B"}, {"jobtitle": "X"}, ())


def test_different_fields_changed_on_both_sides_both_survive() -> None:
    state = {"jobtitle": agreed("A", at=T0), "nickname": agreed("N", side="crm", at=T1)}
    # CRM changed nickname N0 -> N (agreed at T1, on its way); Exchange changed jobtitle meanwhile
    m = merge("exchange", {"jobtitle": "X"}, {"jobtitle": "A"}, T2, {"jobtitle"}, state, "crm_wins")
    assert m.forward == {"jobtitle": "X"} and not m.conflicts and "nickname" not in m.state


def test_a_new_pair_agrees_on_everything_it_was_created_with() -> None:
    state = created("crm", {"jobtitle": "A", "nickname": None}, T1, lambda side, key, v: f"{side}:{v}")
    assert state["jobtitle"] == FieldState("A", T1, "crm", {"crm": "A", "exchange": "exchange:A"})


def test_a_winning_change_is_written_again_over_a_write_back_still_on_its_way_to_its_side() -> None:
    """CRM's B lost to the mailbox's X (CRM got X written back: CRM is believed to hold X); CRM's capture then
    reports B again, made later (T2): B wins now, flows to the mailbox, and is written to CRM again guarded by X,
    because the write-back of X may land after this decision and leave CRM with the value that just lost."""
    state = {"jobtitle": FieldState("X", T1, "exchange", {"crm": "X", "exchange": "X"})}
    m = merge("crm", {"jobtitle": "B"}, {"jobtitle": "A"}, T2, {"jobtitle"}, state, "latest")
    assert [c.winner for c in m.conflicts] == ["crm"]
    assert (m.forward, m.forward_expected) == ({"jobtitle": "B"}, {"jobtitle": "X"})
    assert (m.again, m.again_expected, m.back) == ({"jobtitle": "B"}, {"jobtitle": "X"}, {})
    assert m.state["jobtitle"].agreed == "B" and m.state["jobtitle"].held == {"crm": "B", "exchange": "B"}



def test_a_winning_change_of_a_side_believed_to_hold_it_already_is_not_written_again() -> None:
    """The mailbox holds C as agreed and changes it to X, then changes X to Y before CRM's Z (made from C) came:
    X is held by the mailbox, so its winning Y needs no second write to itself."""
    state = {"jobtitle": FieldState("Z", T1, "crm", {"crm": "Z", "exchange": "Y"})}
    m = merge("exchange", {"jobtitle": "Y"}, {"jobtitle": "X"}, T2, {"jobtitle"}, state, "latest")
    assert [c.winner for c in m.conflicts] == ["exchange"] and m.again == {}
