"""The policy CLI's pure rendering: arrows, diffs and the export document's validation."""

from __future__ import annotations

import pytest

from services.cli import policy_view


@pytest.mark.parametrize(
    ("direction", "arrow"), [("both", "<->"), ("to_exchange", "<--"), ("to_crm", "-->"), ("none", "-x-")]
)
def test_arrows_read_outlook_left_crm_right(direction: str, arrow: str) -> None:
    assert policy_view.ARROWS[direction] == arrow


def test_diff_lists_only_what_differs_and_keeps_absent_fields() -> None:
    current = {"contact": {"telephone1": "both", "pager": "both"}, "task": {"subject": "both"}}
    wanted = {"contact": {"telephone1": "to_crm", "pager": "both"}, "fax": {"subject": "none"}}
    changes = policy_view.diff(current, wanted)
    assert changes == [
        {"entity": "contact", "field": "telephone1", "direction": "to_crm"},
        {"entity": "fax", "field": "subject", "direction": "none"},
    ]
    rendered = policy_view.render_diff(current, changes)
    assert "contact.telephone1: both -> to_crm  (<-> -> -->)" in rendered
    assert "fax.subject: - -> none  (? -> -x-)" in rendered
    assert policy_view.diff(current, current) == []


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ([], "expected a JSON object"),
        ({"version": 1}, "expected a JSON object"),
        ({"directions": {"contact": "both"}}, "must be an object"),
        ({"directions": {"contact": {"telephone1": "up"}}}, "unknown direction 'up'"),
        ({"version": "3", "directions": {}}, "must be an integer"),
        ({"version": True, "directions": {}}, "must be an integer"),
    ],
)
def test_parse_document_refuses_bad_shapes(raw: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        policy_view.parse_document(raw)


def test_parse_document_round_trips_an_export() -> None:
    policy = {"version": 4, "updated_by": "x", "directions": {"contact": {"telephone1": "none"}}}
    document = policy_view.export_document(policy)
    assert document == {"version": 4, "directions": {"contact": {"telephone1": "none"}}}
    assert policy_view.parse_document(document) == (4, {"contact": {"telephone1": "none"}})


def test_render_fields_marks_fixed_and_changed_fields() -> None:
    entity = {"name": "contact", "display_name": "Contact"}
    fields = [
        {"field": "fullname", "crm_field": "Full Name", "exchange_field": "Full Name", "direction": "both",
         "default_direction": "both", "changeable": False},
        {"field": "pager", "crm_field": "Pager", "exchange_field": "Pager", "direction": "none",
         "default_direction": "both", "changeable": True},
    ]
    lines = policy_view.render_fields(entity, fields).splitlines()
    assert lines[0] == "Contact (contact), 2 fields"
    assert lines[2].split()[:4] == ["Full", "Name", "<->", "Full"] and lines[2].endswith("[fixed]")
    assert "-x-" in lines[3] and lines[3].endswith("(default both)")


def test_render_history_empty_and_paged() -> None:
    assert policy_view.render_history({"entries": [], "total": 0, "offset": 0}).startswith("no policy changes")
    page = {"total": 7, "offset": 5, "entries": [
        {"version": 3, "at": "t", "actor": "ann", "entity": "task", "field": "subject", "old": None, "new": "none"},
    ]}
    out = policy_view.render_history(page)
    assert "task.subject" in out and "- -> none" in out and "showing 6-6 of 7" in out
