"""`fieldsync policy test`'s pure parts: the bar, the side-by-side report, --p99, the candidate, the rate."""

from __future__ import annotations

import pytest

from infra.policytest.explain import explain
from infra.policytest.report import PolicyTestReport, Sample, phase, verdict
from infra.policytest.run import DEFAULT_RATE, RATE_RANGE, choose_rate, refusals
from infra.sandbox.traffic_shape import DEFAULT, TrafficShape
from services.cli.policy_test import candidate_policy, parse_duration
from services.cli.policy_test_view import bar, render, shape_line
from tests.policy_builders import CATALOGUE, policy


def test_the_bar_fills_with_the_share_and_clamps() -> None:
    assert bar(0.0, "starting", width=10) == "[..........]   0% starting"
    assert bar(0.42, "traffic", width=10) == "[####......]  42% traffic"
    assert bar(1.5, "done", width=10) == "[##########] 100% done"


@pytest.mark.parametrize(("text", "seconds"), [("2s", 2.0), ("1500ms", 1.5), ("3", 3.0), (" 0.5s ", 0.5)])
def test_p99_targets(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-1s", "2 minutes", "fast"])
def test_p99_targets_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_duration(text)


def test_the_candidate_is_the_current_policy_with_the_files_changes() -> None:
    current = policy(contact__jobtitle="to_crm")
    made = candidate_policy(current, {"contact": {"description": "none"}}, {"task": "crm_wins"},
                            {"sync_appointment_attachments": True})  # fmt: skip
    assert made.direction("contact", "description") == "none" and made.direction("contact", "jobtitle") == "to_crm"
    assert made.conflict_rule("task") == "crm_wins" and made.settings.sync_appointment_attachments
    assert made.version == current.version and current.direction("contact", "description") == "both"


def test_the_rate_is_the_asked_one_else_the_windows_within_bounds_else_the_default() -> None:
    assert choose_rate(7.0, DEFAULT) == 7.0
    assert choose_rate(None, DEFAULT) == DEFAULT_RATE
    assert choose_rate(None, TrafficShape(rate_per_s=1000.0)) == RATE_RANGE[1]
    assert choose_rate(None, TrafficShape(rate_per_s=0.01)) == RATE_RANGE[0]
    assert choose_rate(None, TrafficShape(rate_per_s=3.333)) == 3.33


def report() -> PolicyTestReport:
    current = phase("current", 3, 10, [Sample(flow="crm_to_exchange", entity="contact", sync_s=0.5)] * 10, 5.0, [])
    found = [Sample(flow="crm_to_exchange", entity="contact", sync_s=0.6)] * 8 + \
        [Sample(flow="exchange_to_crm", entity="contact", sync_s=1.2)] * 2
    candidate = phase("candidate", 4, 10, found, 5.0, [])
    before, after = policy(contact__jobtitle="to_exchange"), policy(contact__jobtitle="both")
    return PolicyTestReport(rate=2, duration_s=5, seed=7, shape=DEFAULT, current=current, candidate=candidate,
                            explanations=explain(CATALOGUE, before, after, DEFAULT),
                            verdict=verdict(current, candidate, 2.0), notes=["initial sync settled in 9s"])  # fmt: skip


def test_the_report_shows_both_policies_side_by_side_with_what_explains_the_difference() -> None:
    text = render(report().model_dump(mode="json"))
    lines = text.splitlines()
    assert lines[0] == "sync-time test: 2 changes/s for 5s per policy, seed 7, on an isolated stack"
    assert "the default shape (the change window was empty)" in lines[1]
    header = next(line for line in lines if "current (v3)" in line)
    assert header.index("current (v3)") < header.index("candidate (v4)")
    assert any(line.startswith("changes made / synced") and "10 / 10" in line and "10 / 10" in line[30:]
               for line in lines)  # fmt: skip
    assert any(line.strip().startswith("Exchange -> CRM") and line.rstrip().endswith("(n=2)") for line in lines)
    # DEFAULT: 13 of its 80 contact changes are Exchange edits of the job title.
    assert ("  - turning contact jobtitle from `to_exchange` to `both` adds Exchange-to-CRM writes for 16% of "
            "contact changes (13 of 80)") in lines
    assert lines[-1] == "verdict: PASS: candidate p99 1.20s within the target 2s (current: 0.50s)"


def test_the_shape_line_names_the_window_and_the_mix() -> None:
    line = shape_line(DEFAULT.model_copy(update={"source": "window"}).model_dump(mode="json"))
    assert line == ("traffic shaped like the running stack's change window (200 recent changes): CRM 50% / "
                    "Exchange 50%; contact 40%, appointment 30%, task 30%")  # fmt: skip


def test_a_candidate_the_admin_api_would_refuse_is_refused_before_any_stack_starts() -> None:
    current = policy()
    assert refusals(CATALOGUE, current, policy(contact__description="none")) == []
    bad = policy(contact__fullname="none").model_copy(update={"directions": {
        **policy(contact__fullname="none").directions, "widget": {"x": "none"}, "contact": {
            **policy().directions["contact"], "fullname": "none", "nosuch": "both"}}})  # fmt: skip
    assert refusals(CATALOGUE, current, bad) == [
        "contact.fullname is fixed (both)", "unknown field contact.nosuch", "unknown entity 'widget'"]
