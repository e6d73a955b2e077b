"""The preview's pure parts: what starts and stops flowing, items entering and leaving, the sample, the window's
summary, and the sentences that say which change of the candidate explains a difference (preview*.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.policy.preview import preview
from services.policy.preview_diff import Compared, differs, moves, starts, stops
from services.policy.preview_sentences import changes_of, explanations
from services.policy.replay import replay
from services.policy.verdict import Decision, TargetDecision
from shared.change_window import WindowEntry
from shared.events import TRACKING_CATEGORY, ItemChanged, OrgSettings, Policy
from tests.policy_builders import ALICE, CATALOGUE, exchange, policy
from tests.preview_traffic import STATE, TRAFFIC, mine, outlook, recorded


def compared(entry: WindowEntry, current: Policy, candidate: Policy) -> Compared:
    return Compared(entry, replay(entry, CATALOGUE, current), replay(entry, CATALOGUE, candidate))


def ruled(rule: str) -> Policy:
    return policy().model_copy(update={"conflict_rules": {"contact": rule}})


def settled(**settings: bool) -> Policy:
    return policy().model_copy(update={"settings": OrgSettings(**settings)})


# (name, change, states, current, candidate, starts, stops, differs)
FLOWS = [
    ("a CRM field turned to none stops its CRM-to-Exchange write", mine({"description": "d"}), None,
     policy(), policy(contact__description="none"), set(), {("to_exchange", "description")}, True),
    ("to_crm on a CRM change: the same", mine({"description": "d"}), None,
     policy(), policy(contact__description="to_crm"), set(), {("to_exchange", "description")}, True),
    ("an Outlook edit of a field turned to_exchange stops its Exchange-to-CRM write", outlook({"description": "d"}),
     None, policy(), policy(contact__description="to_exchange"), set(), {("to_crm", "description")}, True),
    ("a field turned on starts flowing", mine({"description": "d"}), None,
     policy(contact__description="none"), policy(), {("to_exchange", "description")}, set(), True),
    ("a change that does not carry the field: nothing", mine({"telephone1": "1"}), None,
     policy(), policy(contact__description="none"), set(), set(), False),
    ("the candidate is the current policy: nothing", mine({"description": "d"}), None,
     policy(), policy(), set(), set(), False),
    ("a conflict decided by another rule: no flow changes side, the outcome differs",
     outlook({"telephone1": "9"}, telephone1="1"), STATE, ruled("latest"), ruled("crm_wins"),
     set(), {("to_crm", "telephone1")}, True),
    ("a record out of scope is out of scope under both", mine({"description": "d"}, owner_mailbox=None), None,
     policy(), policy(contact__description="none"), set(), set(), False),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "states", "current", "candidate", "start", "stop", "differ"), FLOWS,
                         ids=[row[0] for row in FLOWS])  # fmt: skip
def test_what_starts_and_stops_flowing(
    name: str, change: ItemChanged, states: Any, current: Policy, candidate: Policy,
    start: set[Any], stop: set[Any], differ: bool,
) -> None:  # fmt: skip
    one = compared(recorded(change, states=states), current, candidate)
    assert (starts(one), stops(one), differs(one)) == (start, stop, differ)


def decision(*targets: tuple[str, str | None, str | None, bool]) -> Decision:
    """Targets as (target, mailbox, op, keep_item)."""
    return Decision(tuple(TargetDecision(t, m, op, {}, (), keep_item=keep) for t, m, op, keep in targets))  # type: ignore[arg-type]


# (name, current targets, candidate targets, expected (target, mailbox, current effect, candidate effect))
MOVES = [
    ("a create not sent now enters", [("exchange", ALICE, None, False)], [("exchange", ALICE, "create", False)],
     [("exchange", ALICE, None, "create")]),
    ("a delete sent now and not then", [("exchange", ALICE, "delete", False)], [("exchange", ALICE, None, False)],
     [("exchange", ALICE, "delete", None)]),
    ("a delete that becomes an unlink", [("exchange", ALICE, "delete", False)], [("exchange", ALICE, "delete", True)],
     [("exchange", ALICE, "delete", "unlink")]),
    ("an update that stops is no move", [("crm", ALICE, "update", False)], [("crm", ALICE, None, False)], []),
    ("a target only the candidate names", [], [("crm", ALICE, "create", False)], [("crm", ALICE, None, "create")]),
    ("a write-back beside a create keeps the create", [("exchange", ALICE, "create", False)],
     [("exchange", ALICE, "create", False), ("exchange", ALICE, "update", False)], []),
]  # fmt: skip


@pytest.mark.parametrize(("name", "now", "then", "expected"), MOVES, ids=[row[0] for row in MOVES])
def test_items_entering_and_leaving(name: str, now: Any, then: Any, expected: list[Any]) -> None:
    one = Compared(recorded(mine({"telephone1": "1"})), decision(*now), decision(*then))
    assert [(m.target, m.mailbox, m.current, m.candidate) for m in moves(one)] == expected


# (name, current, candidate, sentences)
SENTENCES = [
    ("a field turned off, both ways", policy(), policy(contact__description="none"), [
        "turning contact description to `none` stops CRM-to-Exchange writes for 40% of contact changes (2 of 5)",
        "turning contact description to `none` stops Exchange-to-CRM writes for 20% of contact changes (1 of 5)"]),
    ("a field turned on", policy(contact__description="to_exchange"), policy(), [
        "turning contact description to `both` adds Exchange-to-CRM writes for 20% of contact changes (1 of 5)"]),
    ("an entity without recorded changes", policy(), policy(letter__description="none"), [
        "turning letter description to `none` changes nothing in the window: no letter change was recorded"]),
    ("a field no recorded change carried", policy(), policy(contact__jobtitle="none"), [
        "turning contact jobtitle to `none` changes nothing in the window: none of the 5 recorded contact changes "
        "carried it"]),
    ("a conflict rule", ruled("latest"), ruled("crm_wins"), [
        "deciding contact conflicts by `crm_wins` instead of `latest` changes the outcome of 20% of contact changes "
        "(1 of 5)"]),
    ("a conflict rule that decides no recorded conflict otherwise", ruled("latest"), ruled("exchange_wins"), [
        "deciding contact conflicts by `exchange_wins` instead of `latest` changes nothing in the window: no recorded "
        "conflict of it is decided otherwise"]),
    ("a setting that changes nothing in the window", settled(), settled(track_categorized_items=False), [
        "setting track_categorized_items to false changes nothing in the window"]),
    ("no change at all", policy(), policy(), [
        "the candidate is the current policy (version 7): every recorded change is decided the same"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "current", "candidate", "expected"), SENTENCES, ids=[row[0] for row in SENTENCES])
def test_which_change_explains_a_difference(name: str, current: Policy, candidate: Policy, expected: list[str]) -> None:
    every = [compared(entry, current, candidate) for entry in TRAFFIC]
    assert [e.sentence for e in explanations(every, current, candidate)] == expected


def test_the_candidates_changes_are_listed_by_kind() -> None:
    candidate = policy(contact__description="none").model_copy(
        update={"conflict_rules": {"task": "crm_wins"}, "settings": OrgSettings(sync_appointment_attachments=True)}
    )
    changes = changes_of(policy(), candidate)
    assert changes.directions == (("contact", "description", "both", "none"),)
    assert changes.rules == (("task", "latest", "crm_wins"),)
    assert changes.settings == (("sync_appointment_attachments", False, True),)


def test_the_report_counts_the_window_and_samples_the_newest_differing_changes() -> None:
    report = preview(TRAFFIC, CATALOGUE, policy(), policy(contact__description="none"), sample_size=2)
    assert (report.window.entries, report.window.by_entity, report.window.by_side) == (
        5, {"contact": 5}, {"crm": 3, "exchange": 2})
    assert report.differing == 3 and [s.event_id for s in report.samples] == ["x1", "c3"]  # the newest first
    assert [(f.way, f.starts, f.stops) for f in report.flows] == [("to_crm", 0, 1), ("to_exchange", 0, 2)]
    [target] = report.samples[1].candidate
    assert target.note.reason == "nothing_allowed" and [o.field for o in target.outcomes] == ["description"]
    assert (report.entering, report.leaving, report.not_entering, report.not_leaving) == (0, 0, 0, 0)


def test_an_empty_window_reports_nothing() -> None:
    report = preview([], CATALOGUE, policy(), policy(contact__description="none"))
    assert report.window.entries == 0 and report.no_difference and report.flows == ()


UNREACHED = [recorded(mine({"description": v}, v, owner_mailbox=None)) for v in ("o1", "o2")]  # out of scope

# (name, candidate, the sentence's reason): a direction change that changes nothing, and why
UNCHANGED = [
    ("where it would be written it is withheld either way", policy(contact__description="to_crm"),
     "the 2 of the 2 recorded contact changes that carried it that would write it CRM-to-Exchange are withheld either "
     "way (out_of_scope 2)"),
    ("no change that carried it writes in the direction concerned", policy(contact__description="to_exchange"),
     "none of the 2 recorded contact changes that carried it writes it Exchange-to-CRM"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "candidate", "why"), UNCHANGED, ids=[row[0] for row in UNCHANGED])
def test_a_direction_change_that_changes_nothing_says_why(name: str, candidate: Policy, why: str) -> None:
    current = policy(contact__description="both")
    every = [compared(entry, current, candidate) for entry in UNREACHED]
    said = [e.sentence for e in explanations(every, current, candidate) if e.change.startswith("contact.description")]
    assert said[-1].endswith(why), said


@pytest.mark.parametrize(
    ("name", "change", "candidate", "expected"),
    [
        ("distinct deletes: a recorded reassignment's delete becomes an unlink",
         mine({"ownerid": "bob"}, owner_mailbox="bob@sandbox.local", previous_owner_mailbox=ALICE),
         settled(distinct_physical_and_logical_deletes=True), [("exchange", ALICE, "delete", "unlink")]),
        ("tasks kept in CRM: a recorded Outlook delete no longer reaches CRM, and the link goes",
         exchange("task", "delete", categories=[TRACKING_CATEGORY]), settled(delete_exchange_tasks_in_crm=False),
         [("crm", ALICE, "delete", None), ("exchange", ALICE, None, "unlink")]),
    ],
)  # fmt: skip
def test_a_settings_candidate_moves_the_items_its_rules_treat_otherwise(
    name: str, change: ItemChanged, candidate: Policy, expected: list[Any]
) -> None:
    one = compared(recorded(change), settled(), candidate)
    assert [(m.target, m.mailbox, m.current, m.candidate) for m in moves(one)] == expected
