"""How `fieldsync filters show|preview` print (services.cli.filters_view)."""

from __future__ import annotations

from typing import Any

from services.cli.filters_view import group_text, render_filters, render_preview

OWNED = {"attribute": "ownerid", "operator": "eq-userid", "values": []}
ACTIVE = {"attribute": "statecode", "operator": "eq", "values": ["0"]}
IN = {"attribute": "prioritycode", "operator": "in", "values": ["1", "2"]}


def test_a_parsed_filter_reads_as_one_line_with_nested_groups_in_parentheses() -> None:
    nested = {"type": "or", "conditions": [ACTIVE, IN], "filters": []}
    assert group_text({"type": "and", "conditions": [OWNED], "filters": [nested]}) == \
        "ownerid eq-userid and (statecode eq 0 or prioritycode in (1, 2))"
    assert group_text(None) == "every record"
    assert group_text({"type": "and", "conditions": [], "filters": []}) == "every record"
    single = {"type": "or", "conditions": [ACTIVE], "filters": []}
    assert group_text({"type": "and", "conditions": [OWNED], "filters": [single]}) == \
        "ownerid eq-userid and statecode eq 0"


def _filter(name: str, **values: Any) -> dict[str, Any]:
    parsed = {"entity": "contact", "filter": {"type": "and", "conditions": [OWNED, ACTIVE], "filters": []}}
    return {"id": name, "name": name, "entity": "contact", "kind": "user", "enabled": True, "applies": True,
            "parsed": parsed, "error": None, "error_operator": None, "fetchxml": "", **values}


def test_the_filters_of_each_mailbox_with_their_state_and_form_or_error() -> None:
    page = {"mailboxes": [
        {"mailbox": "alice@x", "user_id": "a1", "filters": [
            _filter("My Active Contacts"), _filter("Old", enabled=False, applies=False),
            _filter("Today", applies=False, parsed=None, error="unsupported condition operator 'today' on 'createdon'",
                    error_operator="today")]},
        {"mailbox": "bob@x", "user_id": "b1", "filters": []},
    ]}  # fmt: skip
    text = render_filters(page)
    assert "alice@x (CRM user a1)" in text
    assert "My Active Contacts [user, applies]" in text and "ownerid eq-userid and statecode eq 0" in text
    assert "Old [user, disabled]" in text
    assert "Today [user, NOT APPLIED]" in text and "error: unsupported condition operator 'today'" in text
    assert "bob@x (CRM user b1)\n  no filters: nothing syncs to this mailbox" in text
    assert render_filters({"mailboxes": []}) == "no mailboxes"


def test_the_preview_shows_the_page_the_totals_and_what_moves() -> None:
    answer = {"mailbox": "alice@x", "user_id": "a1", "entity": "contact", "total": 3, "page": 2, "page_size": 2,
              "readable": 9, "current_total": 4, "entering": 1, "leaving": 2,
              "parsed": {"entity": "contact", "filter": {"type": "and", "conditions": [ACTIVE], "filters": []}},
              "records": [{"id": "c1", "name": "Ann Lee"}, {"id": "c2", "name": None}],
              "compared_with": [{"id": "f1", "name": "My Active Contacts", "kind": "user"}]}  # fmt: skip
    text = render_preview(answer)
    assert text.splitlines()[0] == "contact filter for alice@x: statecode eq 0"
    assert "3 of the 9 records the user may read match; page 2 of 2:" in text
    assert "  c1  Ann Lee" in text and "  c2  (no name)" in text
    assert "today's filters (My Active Contacts (user)) bring 4; with this filter instead, 1 would enter and 2 " \
           "would leave. Nothing was changed." in text
    assert "(none on this page)" in render_preview({**answer, "records": [], "compared_with": []})
