"""How `fieldsync verify` prints a report: the tables, the informational part, the summary line (pure)."""

from __future__ import annotations

from typing import Any

from services.cli import verify_view

PAIR = {"entity": "contact", "crm_id": "c-1", "mailbox": "alice@sandbox.local", "exchange_id": "x-1"}


def report(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"pairs_checked": 3, "consistent": True, "policy_version": 2, "untracked": 0,
                            "differences": [], "missing": [], "one_way_differences": []}
    return {**base, **overrides}


def test_consistent_is_one_line() -> None:
    assert verify_view.render(report()) == "consistent: 3 pairs checked (policy version 2)"
    assert verify_view.summary(report(pairs_checked=1)) == "consistent: 1 pair checked (policy version 2)"


def test_differences_and_missing_are_tables_then_the_summary() -> None:
    shown = verify_view.render(report(
        consistent=False,
        differences=[{**PAIR, "field": "jobtitle", "crm_value": "Buyer", "exchange_value": None}],
        missing=[{**PAIR, "missing_on": "exchange"}],
    ))
    lines = shown.splitlines()
    assert lines[0] == "differences (1): fields that flow both ways and differ"
    assert lines[1].split() == ["entity", "crm_id", "mailbox", "exchange_id", "field", "CRM", "Exchange"]
    assert lines[2].split() == ["contact", "c-1", "alice@sandbox.local", "x-1", "jobtitle", "Buyer", "null"]
    assert "missing (1): linked items that no longer exist on one side" in lines
    assert lines[-3].split()[-1] == "exchange" and lines[-2] == ""
    assert lines[-1] == "inconsistent: 1 difference, 1 missing item in 3 pairs checked (policy version 2)"


def test_one_way_differences_are_informational() -> None:
    one_way = {**PAIR, "field": "nickname", "crm_value": "N", "exchange_value": "M", "direction": "to_exchange",
               "note": "..."}
    shown = verify_view.render(report(one_way_differences=[one_way], untracked=2))
    assert "informational" in shown.splitlines()[0]
    assert shown.splitlines()[2].split()[4:] == ["nickname", "to_exchange", "N", "M"]
    assert "2 untracked items not compared" in shown
    assert shown.endswith("consistent: 3 pairs checked (policy version 2)")


def test_cells_are_compact_json_and_cut() -> None:
    assert verify_view.cell({"a": 1, "b": [None]}) == '{"a":1,"b":[null]}'
    assert verify_view.cell("two\nlines") == "two\\nlines"
    long = verify_view.cell("x" * 100)
    assert len(long) == verify_view.MAX_VALUE and long.endswith("...")


def test_progress_line() -> None:
    assert verify_view.progress({"progress": {"checked": 0, "total": None}}) == "verify: listing links..."
    assert verify_view.progress({"progress": {"checked": 4, "total": 9}}) == "verify: 4 of 9 pairs checked"
