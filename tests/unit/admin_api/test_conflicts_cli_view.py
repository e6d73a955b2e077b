"""`fieldsync conflicts`' pure rendering: the table, its cells and the --since parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.cli import conflicts_view


def conflict(**overrides: Any) -> dict[str, Any]:
    return {
        "conflict_id": "k1", "decided_at": "2025-03-01T12:00:00.123456Z", "entity": "contact", "crm_id": "c-1",
        "mailbox": "alice@sandbox.local", "exchange_id": "x-1", "field": "telephone1", "crm_value": "+1 555 0100",
        "exchange_value": "+1 555 0199", "crm_modified_at": "2025-03-01T11:59:00Z",
        "exchange_modified_at": "2025-03-01T11:59:30Z", "rule": "latest", "winner": "exchange",
        "policy_version": 3, "causation_id": "e1", **overrides,
    }


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, "-"),
        ("+1 555 0100", "+1 555 0100"),
        ("", '""'),
        ("line one\nline two", "line one line two"),
        ("x" * 40, "x" * 29 + "..."),
        (3, "3"),
        (False, "false"),
        ({"city": "Zürich"}, '{"city": "Zürich"}'),
        (["a", "b"], '["a", "b"]'),
    ],
)
def test_value_cells_fit_on_one_line(value: Any, cell: str) -> None:
    assert conflicts_view.value_cell(value) == cell


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T12:30", datetime(2025, 3, 1, 12, 30, tzinfo=UTC)),
        ("2025-03-01T12:30:00Z", datetime(2025, 3, 1, 12, 30, tzinfo=UTC)),
        ("2025-03-01T12:30:00+02:00", datetime(2025, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))),
    ],
)
def test_since_is_iso_8601_and_utc_without_an_offset(text: str, moment: datetime) -> None:
    assert conflicts_view.parse_since(text) == moment


def test_a_bad_since_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="not an ISO 8601"):
        conflicts_view.parse_since("yesterday")


def test_the_table_shows_both_values_the_rule_and_the_winner() -> None:
    page = {"total": 7, "offset": 2, "limit": 2, "conflicts": [
        conflict(),
        conflict(decided_at="2025-03-01T13:00:00+01:00", winner="crm", rule="crm_wins", exchange_value=None),
    ]}
    lines = conflicts_view.render_conflicts(page).splitlines()
    assert lines[0].split("  ")[0] == "time (UTC)"
    assert all(h in lines[0] for h in ("entity", "crm id", "mailbox", "field", "CRM value", "Exchange value"))
    assert lines[1].split() == ["2025-03-01", "12:00:00", "contact", "c-1", "alice@sandbox.local", "telephone1",
                                "+1", "555", "0100", "+1", "555", "0199", "latest", "Exchange"]
    assert lines[2].split()[:2] == ["2025-03-01", "12:00:00"] and lines[2].split()[-3:] == ["-", "crm_wins", "CRM"]
    assert lines[3] == "showing 3-4 of 7, newest first"


def test_an_empty_page() -> None:
    assert conflicts_view.render_conflicts({"conflicts": [], "total": 0, "offset": 0}) == "no conflicts recorded"
    past = conflicts_view.render_conflicts({"conflicts": [], "total": 3, "offset": 5})
    assert past == "no conflicts past 5 (total 3)"
