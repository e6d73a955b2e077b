"""The policy CLI's pure rendering: arrows, rules, diffs and the export document's validation."""

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
        ({"conflict_rules": {"contact": "newest"}}, "unknown conflict rule 'newest'"),
        ({"conflict_rules": ["latest"]}, "expected a JSON object"),
        ({"directions": [], "conflict_rules": {}}, "expected a JSON object"),
    ],
)
def test_parse_document_refuses_bad_shapes(raw: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        policy_view.parse_document(raw)


def test_parse_document_round_trips_an_export() -> None:
    policy = {"version": 4, "updated_by": "x", "directions": {"contact": {"telephone1": "none"}},
              "conflict_rules": {"contact": "crm_wins", "task": "latest"},
              "settings": {"track_categorized_items": False}}
    document = policy_view.export_document(policy)
    assert document == {"version": 4, "directions": {"contact": {"telephone1": "none"}},
                        "conflict_rules": {"contact": "crm_wins", "task": "latest"},
                        "settings": {"track_categorized_items": False}}
    assert policy_view.parse_document(document) == (
        4, {"contact": {"telephone1": "none"}}, {"contact": "crm_wins", "task": "latest"}
    )


def test_parse_document_reads_an_export_from_before_conflict_rules_and_a_rules_only_one() -> None:
    assert policy_view.parse_document({"version": 2, "directions": {}}) == (2, {}, {})
    assert policy_view.parse_document({"conflict_rules": {"fax": "exchange_wins"}}) == (
        None, {}, {"fax": "exchange_wins"}
    )


def test_rule_diff_lists_only_what_differs_with_latest_as_the_default() -> None:
    current = {"contact": "latest", "task": "crm_wins"}
    wanted = {"contact": "exchange_wins", "task": "crm_wins", "fax": "latest", "letter": "crm_wins"}
    changes = policy_view.rule_diff(current, wanted)
    assert changes == [{"entity": "contact", "rule": "exchange_wins"}, {"entity": "letter", "rule": "crm_wins"}]
    rendered = policy_view.render_diff({}, [], current, changes)
    assert rendered.splitlines() == [
        "  contact conflict rule: latest -> exchange_wins", "  letter conflict rule: latest -> crm_wins",
    ]
    assert policy_view.rule_diff(current, current) == []


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("latest", "conflict rule: latest: the later change wins, a tie goes to CRM"),
        ("crm_wins", "conflict rule: crm_wins: the CRM value wins (default latest)"),
        ("exchange_wins", "conflict rule: exchange_wins: the Exchange value wins (default latest)"),
    ],
)
def test_render_rule_says_what_the_rule_does(rule: str, text: str) -> None:
    assert policy_view.render_rule(rule) == text


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
    ruled = policy_view.render_fields(entity, fields, "crm_wins").splitlines()
    assert ruled[1] == "  conflict rule: crm_wins: the CRM value wins (default latest)" and ruled[2:] == lines[1:]


def test_render_history_empty_and_paged() -> None:
    assert policy_view.render_history({"entries": [], "total": 0, "offset": 0}).startswith("no policy changes")
    page = {"total": 7, "offset": 5, "entries": [
        {"version": 3, "at": "t", "actor": "ann", "entity": "task", "field": "subject", "old": None, "new": "none"},
    ]}
    out = policy_view.render_history(page)
    assert "task.subject" in out and "- -> none" in out and "showing 6-6 of 7" in out
    rule = {"version": 4, "at": "t", "actor": "ann", "kind": "conflict_rule", "entity": "task", "field": None,
            "old": "latest", "new": "crm_wins"}
    out = policy_view.render_history({"total": 8, "offset": 0, "entries": [rule, page["entries"][0]]})
    assert "task conflict rule  latest -> crm_wins" in out and "task.subject" in out


def test_settings_diff_and_rendering() -> None:
    current = {"track_categorized_items": True, "delete_exchange_tasks_in_crm": True}
    wanted = {"track_categorized_items": False, "delete_exchange_tasks_in_crm": True}
    assert policy_view.settings_diff(current, wanted) == {"track_categorized_items": False}
    assert policy_view.render_diff({}, [], {}, [], current, {"track_categorized_items": False}) == \
        "  setting track_categorized_items: true -> false"
    page = {"entries": [{"version": 3, "at": "2026-12-02T10:00:00Z", "actor": "admin", "kind": "setting",
                         "entity": "organisation", "field": "track_categorized_items", "old": False, "new": True}],
            "total": 1, "offset": 0}  # fmt: skip
    row = policy_view.render_history(page).splitlines()[1]
    assert row.split()[-4:] == ["track_categorized_items", "false", "->", "true"] and "setting" in row
