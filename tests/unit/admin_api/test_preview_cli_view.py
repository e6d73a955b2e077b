"""`fieldsync policy preview`'s rendering of a report (services/cli/preview_view.py), from a report the pure
preview made of a small window."""

from __future__ import annotations

from services.cli.preview_view import render_report
from services.policy.preview import preview
from shared.preview import PreviewReport
from tests.policy_builders import CATALOGUE, policy
from tests.preview_traffic import TRAFFIC


def rendered(report: PreviewReport) -> list[str]:
    return render_report(report.model_dump(mode="json")).splitlines()


def test_a_report_says_what_changes_per_field_and_shows_a_sample() -> None:
    lines = rendered(preview(TRAFFIC, CATALOGUE, policy(), policy(contact__description="none"), sample_size=1))
    assert lines[0].startswith("preview against policy version 7 over the 5 recorded changes (contact 5; made in "
                               "crm 3, exchange 2) decided ")  # fmt: skip
    assert lines[1] == "3 of the 5 would be decided differently."
    assert ("  - turning contact description to `none` stops CRM-to-Exchange writes for 40% of contact changes "
            "(2 of 5)") in lines  # fmt: skip
    table = lines[lines.index("per entity and field (recorded changes that would start / stop writing it):") + 1:]
    assert table[:3] == [
        "  entity   field        direction        start flowing  stop flowing",
        "  contact  description  Exchange -> CRM  0              1",
        "  contact  description  CRM -> Exchange  0              2",
    ]
    sample = lines[lines.index("sample (1 of 3; * marks a field whose outcome differs):") + 1:]
    assert sample == [  # the newest differing change: an Outlook edit
        "  contact r1: update made in exchange at 2026-06-01T12:00:00Z",
        "    to crm: now update (update), candidate nothing (nothing_allowed)",
        "     * description: synced -> withheld (direction)",
    ]


def test_no_difference_says_so() -> None:
    lines = rendered(preview(TRAFFIC, CATALOGUE, policy(), policy()))
    assert lines[1] == "0 of the 5 would be decided differently."
    assert "  - the candidate is the current policy (version 7): every recorded change is decided the same" in lines
    assert not any(line.startswith("sample") or line.startswith("per entity") for line in lines)


def test_an_empty_window_is_one_line() -> None:
    [line] = rendered(preview([], CATALOGUE, policy(), policy(contact__description="none")))
    assert "the change window is empty" in line
