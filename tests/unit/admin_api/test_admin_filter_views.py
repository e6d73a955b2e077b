"""The filter views and the preview's arithmetic (services.admin_api.filters): parsed forms, refusals, what
applies, the candidate's page, and what would enter and leave against today's filters."""

from __future__ import annotations

from typing import Any

import pytest

from services.admin_api.filters import applying, candidate_query, filter_view, preview, query_view
from services.admin_api.filters_schemas import FilterPreviewRequest, FilterView
from shared.crm.filters import SyncFilter
from shared.fetch_match import Identity
from shared.fetchxml import FetchXmlError, parse

ALICE, BOB = "a0000000-0000-0000-0000-000000000001", "b0000000-0000-0000-0000-000000000002"
WHO = Identity(user_id=ALICE, team_ids=frozenset(), business_unit_id=None)


def fetch(entity: str, conditions: str) -> str:
    return f'<fetch><entity name="{entity}"><filter type="and">{conditions}</filter></entity></fetch>'


MINE = fetch("contact", '<condition attribute="ownerid" operator="eq-userid"/>')
BUYERS = fetch("contact", '<condition attribute="jobtitle" operator="eq" value="Buyer"/>')
TODAY = fetch("contact", '<condition attribute="createdon" operator="today"/>')


def sync_filter(fetchxml: str, enabled: bool = True, kind: Any = "user", entity: str = "contact",
                name: str = "F") -> SyncFilter:
    return SyncFilter(id=f"id-{name}", name=name, entity=entity, fetchxml=fetchxml, kind=kind, enabled=enabled,
                      owner_id=ALICE if kind == "user" else None)  # fmt: skip


def test_a_filter_inside_the_subset_shows_its_parsed_form_and_applies() -> None:
    view = filter_view(sync_filter(MINE))
    assert view.applies and view.enabled and view.error is None and view.error_operator is None
    assert view.parsed is not None and view.parsed.model_dump() == {
        "entity": "contact",
        "filter": {"type": "and", "filters": [],
                   "conditions": [{"attribute": "ownerid", "operator": "eq-userid", "values": []}]},
    }  # fmt: skip


@pytest.mark.parametrize(("found", "applies", "error", "operator"), [
    (sync_filter(MINE, enabled=False), False, None, None),
    (sync_filter(TODAY), False, "unsupported condition operator 'today' on 'createdon'", "today"),
    (sync_filter("<fetch>", enabled=True), False, "malformed FetchXML", None),
    (sync_filter(fetch("task", "")), False, "the FetchXML queries task, the filter is for contact", None),
    (sync_filter(BUYERS, kind="system"), True, None, None),
])
def test_a_filter_applies_only_when_enabled_and_parsed(found: SyncFilter, applies: bool, error: str | None,
                                                       operator: str | None) -> None:
    view = filter_view(found)
    assert view.applies is applies and view.error_operator == operator
    assert (view.error is None) if error is None else (error in (view.error or ""))
    assert (view.parsed is None) is (error is not None)


def test_the_view_is_a_pinned_schema() -> None:
    assert set(FilterView.model_json_schema()["properties"]) == {
        "id", "name", "entity", "kind", "enabled", "applies", "parsed", "error", "error_operator", "fetchxml"}


def test_nested_groups_show_nested() -> None:
    query = parse('<fetch><entity name="task"><filter type="or"><condition attribute="a" operator="null"/>'
                  '<filter><condition attribute="b" operator="in"><value>1</value><value>2</value></condition>'
                  "</filter></filter></entity></fetch>")
    shown = query_view(query).model_dump()["filter"]
    assert shown["type"] == "or" and shown["filters"][0]["conditions"][0]["values"] == ["1", "2"]
    assert query_view(parse('<fetch><entity name="fax"/></fetch>')).filter is None


def test_today_is_the_enabled_parsed_filters_of_the_entity_user_and_system() -> None:
    found = [sync_filter(MINE, name="mine"), sync_filter(BUYERS, enabled=False, name="off"),
             sync_filter(TODAY, name="today"), sync_filter(fetch("task", ""), entity="task", name="task"),
             sync_filter(BUYERS, kind="system", name="system"), sync_filter(MINE, kind="template", name="tpl")]
    assert [a.filter.name for a in applying(found, "contact")] == ["mine", "system"]
    assert [a.filter.name for a in applying(found, "task")] == ["task"]


def request(fetchxml: str, page: int = 1, page_size: int = 50, entity: str = "contact") -> FilterPreviewRequest:
    return FilterPreviewRequest(mailbox="alice@x", entity=entity, fetchxml=fetchxml, page=page, page_size=page_size)


def test_the_candidate_is_refused_outside_the_subset_or_for_another_entity() -> None:
    with pytest.raises(FetchXmlError) as refused:
        candidate_query(request(TODAY))
    assert refused.value.operator == "today"
    with pytest.raises(FetchXmlError, match="queries contact, the preview is for task"):
        candidate_query(request(BUYERS, entity="task"))


def contact(n: int, owner: str, jobtitle: str | None, name: str | None = None) -> dict[str, Any]:
    return {"contactid": f"c{n}", "fullname": name or f"Contact {n}", "_ownerid_value": owner, "jobtitle": jobtitle}


RECORDS = [
    contact(1, ALICE, "Buyer", "zed"), contact(2, ALICE, None, "Amy"), contact(3, BOB, "buyer", "bob's buyer"),
    contact(4, BOB, "CEO"), contact(5, ALICE, "Buyer", "Bea"),
]


def test_the_preview_lists_the_candidates_records_and_what_enters_and_leaves() -> None:
    today = applying([sync_filter(MINE, name="My contacts")], "contact")
    answer = preview(request(BUYERS), ALICE, WHO, parse(BUYERS), today, RECORDS, "contactid", "fullname")
    assert [(r.id, r.name) for r in answer.records] == [("c5", "Bea"), ("c3", "bob's buyer"), ("c1", "zed")]
    assert (answer.total, answer.readable, answer.current_total) == (3, 5, 3)
    assert (answer.entering, answer.leaving) == (1, 1)  # bob's buyer enters; Amy (no job title) leaves
    assert [f.name for f in answer.compared_with] == ["My contacts"]
    assert answer.parsed.entity == "contact"


def test_with_no_filter_today_everything_matched_enters() -> None:
    answer = preview(request(MINE), ALICE, WHO, parse(MINE), [], RECORDS, "contactid", "fullname")
    assert (answer.total, answer.current_total, answer.entering, answer.leaving) == (3, 0, 3, 0)


@pytest.mark.parametrize(("page", "size", "ids"), [(1, 2, ["c5", "c3"]), (2, 2, ["c1"]), (3, 2, [])])
def test_the_records_are_paged_and_the_total_stays(page: int, size: int, ids: list[str]) -> None:
    answer = preview(request(BUYERS, page, size), ALICE, WHO, parse(BUYERS), [], RECORDS, "contactid", "fullname")
    assert [r.id for r in answer.records] == ids and answer.total == 3 and answer.page == page


def test_page_size_is_capped() -> None:
    with pytest.raises(ValueError):
        request(BUYERS, page_size=201)
    with pytest.raises(ValueError):
        request(BUYERS, page=0)
