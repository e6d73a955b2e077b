"""A parsed sync filter against one record for one user: every operator, null, types, nesting (shared.fetch_match)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.fetch_match import Identity, matches
from shared.fetchxml import OPERATORS, Condition, FetchQuery, FilterGroup, parse

ALICE = "0000000a-0000-0000-0000-000000000001"
BOB = "0000000b-0000-0000-0000-000000000002"
SALES = "000000ee-0000-0000-0000-00000000000e"
EAST = "000000bb-0000-0000-0000-0000000000b1"
WEST = "000000bb-0000-0000-0000-0000000000b2"
WHO = Identity(user_id=ALICE, team_ids=frozenset({SALES}), business_unit_id=EAST)


def _query(condition: str) -> FetchQuery:
    return parse(f'<fetch><entity name="contact"><filter>{condition}</filter></entity></fetch>')


def _cond(attribute: str, operator: str, *values: str) -> str:
    if len(values) == 1 and operator not in ("in", "not-in"):
        return f'<condition attribute="{attribute}" operator="{operator}" value="{values[0]}"/>'
    inner = "".join(f"<value>{v}</value>" for v in values)
    return f'<condition attribute="{attribute}" operator="{operator}">{inner}</condition>'


ROWS: list[tuple[str, dict[str, Any], bool]] = [
    # eq / ne: strings case-insensitive, numbers as numbers, booleans as 0/1/true/false, null never equal
    (_cond("jobtitle", "eq", "Buyer"), {"jobtitle": "buyer"}, True),
    (_cond("jobtitle", "eq", "Buyer"), {"jobtitle": "Seller"}, False),
    (_cond("jobtitle", "eq", "Buyer"), {"jobtitle": None}, False),
    (_cond("jobtitle", "eq", "Buyer"), {}, False),
    (_cond("statecode", "eq", "0"), {"statecode": 0}, True),
    (_cond("statecode", "eq", "0"), {"statecode": 1}, False),
    (_cond("statecode", "eq", "zero"), {"statecode": 0}, False),
    (_cond("budget", "eq", "2.50"), {"budget": 2.5}, True),
    (_cond("donotemail", "eq", "1"), {"donotemail": True}, True),
    (_cond("donotemail", "eq", "true"), {"donotemail": True}, True),
    (_cond("donotemail", "eq", "0"), {"donotemail": True}, False),
    (_cond("donotemail", "eq", "false"), {"donotemail": False}, True),
    (_cond("ownerid", "eq", "{0000000A-0000-0000-0000-000000000001}"), {"ownerid": ALICE}, True),
    (_cond("ownerid", "eq", ALICE.upper()), {"ownerid": {"id": ALICE, "logicalname": "systemuser", "name": "A"}}, True),
    (_cond("ownerid", "eq", ALICE), {"_ownerid_value": ALICE.upper()}, True),
    (_cond("ownerid", "eq", ALICE), {"ownerid": BOB}, False),
    (_cond("scheduledstart", "eq", "2027-01-04T09:00:00Z"), {"scheduledstart": "2027-01-04T10:00:00+01:00"}, True),
    (_cond("jobtitle", "ne", "Buyer"), {"jobtitle": "Seller"}, True),
    (_cond("jobtitle", "ne", "Buyer"), {"jobtitle": "BUYER"}, False),
    (_cond("jobtitle", "ne", "Buyer"), {"jobtitle": None}, False),
    (_cond("jobtitle", "ne", "Buyer"), {}, False),
    # null / not-null: a missing attribute is null, an empty lookup is null
    ('<condition attribute="jobtitle" operator="null"/>', {}, True),
    ('<condition attribute="jobtitle" operator="null"/>', {"jobtitle": None}, True),
    ('<condition attribute="jobtitle" operator="null"/>', {"jobtitle": "x"}, False),
    ('<condition attribute="parentcustomerid" operator="null"/>', {"parentcustomerid": {"id": None}}, True),
    ('<condition attribute="jobtitle" operator="not-null"/>', {"jobtitle": "x"}, True),
    ('<condition attribute="jobtitle" operator="not-null"/>', {}, False),
    # in / not-in
    (_cond("statecode", "in", "0", "1"), {"statecode": 1}, True),
    (_cond("statecode", "in", "0", "1"), {"statecode": 2}, False),
    (_cond("statecode", "in", "0"), {}, False),
    (_cond("jobtitle", "in", "Buyer", "CEO"), {"jobtitle": "ceo"}, True),
    (_cond("statecode", "not-in", "0", "1"), {"statecode": 2}, True),
    (_cond("statecode", "not-in", "0", "1"), {"statecode": 0}, False),
    (_cond("statecode", "not-in", "0"), {"statecode": None}, False),
    # like: % _ [set] [^set], case-insensitive, whole value, regex characters literal
    (_cond("fullname", "like", "ann%"), {"fullname": "Anna Smith"}, True),
    (_cond("fullname", "like", "%smith"), {"fullname": "Anna Smith"}, True),
    (_cond("fullname", "like", "%nna%"), {"fullname": "Anna Smith"}, True),
    (_cond("fullname", "like", "ann"), {"fullname": "Anna"}, False),
    (_cond("fullname", "like", "ann_"), {"fullname": "Anna"}, True),
    (_cond("fullname", "like", "ann_"), {"fullname": "Annas"}, False),
    (_cond("fullname", "like", "[ab]nna"), {"fullname": "Bnna"}, True),
    (_cond("fullname", "like", "[a-c]nna"), {"fullname": "dnna"}, False),
    (_cond("fullname", "like", "[^a]nna"), {"fullname": "anna"}, False),
    (_cond("fullname", "like", "[^a]nna"), {"fullname": "bnna"}, True),
    (_cond("fullname", "like", "a.b%"), {"fullname": "axb"}, False),
    (_cond("fullname", "like", "a.b%"), {"fullname": "a.b c"}, True),
    (_cond("fullname", "like", "%"), {}, False),
    (_cond("fullname", "like", "a[b"), {"fullname": "A[B"}, True),  # an unclosed bracket is a literal
    (_cond("fullname", "like", "100[%]"), {"fullname": "100%"}, True),  # a bracketed wildcard is a literal
    (_cond("fullname", "like", "100[%]"), {"fullname": "1000"}, False),
    # gt ge lt le: numbers, dates as instants, strings case-insensitive; null and a type mismatch never hold
    (_cond("prioritycode", "gt", "1"), {"prioritycode": 2}, True),
    (_cond("prioritycode", "gt", "2"), {"prioritycode": 2}, False),
    (_cond("prioritycode", "ge", "2"), {"prioritycode": 2}, True),
    (_cond("prioritycode", "lt", "2"), {"prioritycode": 2}, False),
    (_cond("prioritycode", "lt", "10"), {"prioritycode": 9}, True),
    (_cond("prioritycode", "le", "2"), {"prioritycode": 2}, True),
    (_cond("prioritycode", "le", "2"), {"prioritycode": None}, False),
    (_cond("prioritycode", "gt", "high"), {"prioritycode": 2}, False),
    (_cond("donotemail", "gt", "0"), {"donotemail": True}, False),
    (_cond("scheduledstart", "gt", "2027-01-04"), {"scheduledstart": "2027-01-04T00:00:01Z"}, True),
    (_cond("scheduledstart", "lt", "2027-01-04T10:00:00Z"), {"scheduledstart": "2027-01-04T09:59:00Z"}, True),
    (_cond("scheduledstart", "ge", "2027-01-04T10:00:00+02:00"), {"scheduledstart": "2027-01-04T08:00:00Z"}, True),
    (_cond("lastname", "gt", "m"), {"lastname": "Smith"}, True),
    (_cond("lastname", "lt", "M"), {"lastname": "adams"}, True),
    # on-or-after / on-or-before: by UTC day, the time of day ignored
    (_cond("scheduledstart", "on-or-after", "2027-01-04"), {"scheduledstart": "2027-01-04T00:00:00Z"}, True),
    (_cond("scheduledstart", "on-or-after", "2027-01-04"), {"scheduledstart": "2027-01-03T23:59:59Z"}, False),
    (_cond("scheduledstart", "on-or-after", "2027-01-04T18:00:00Z"), {"scheduledstart": "2027-01-04T08:00:00Z"}, True),
    (_cond("scheduledstart", "on-or-before", "2027-01-04"), {"scheduledstart": "2027-01-04T23:59:59Z"}, True),
    (_cond("scheduledstart", "on-or-before", "2027-01-04"), {"scheduledstart": "2027-01-05T00:00:00Z"}, False),
    (_cond("scheduledstart", "on-or-before", "2027-01-04"), {"scheduledstart": "2027-01-05T00:30:00+01:00"}, True),
    (_cond("scheduledstart", "on-or-before", "2027-01-04"), {"scheduledstart": None}, False),
    (_cond("scheduledstart", "on-or-before", "2027-01-04"), {"scheduledstart": "soon"}, False),
    (_cond("scheduledstart", "on-or-after", "next week"), {"scheduledstart": "2027-01-04T00:00:00Z"}, False),
    # the user context
    ('<condition attribute="ownerid" operator="eq-userid"/>', {"ownerid": ALICE.upper()}, True),
    ('<condition attribute="ownerid" operator="eq-userid"/>', {"_ownerid_value": ALICE}, True),
    ('<condition attribute="ownerid" operator="eq-userid"/>', {"ownerid": {"id": BOB, "logicalname": "systemuser"}},
     False),
    ('<condition attribute="ownerid" operator="eq-userid"/>', {}, False),
    ('<condition attribute="ownerid" operator="ne-userid"/>', {"ownerid": BOB}, True),
    ('<condition attribute="ownerid" operator="ne-userid"/>', {"ownerid": ALICE}, False),
    ('<condition attribute="ownerid" operator="ne-userid"/>', {}, False),
    ('<condition attribute="ownerid" operator="eq-userteams"/>', {"ownerid": {"id": SALES, "logicalname": "team"}},
     True),
    ('<condition attribute="ownerid" operator="eq-userteams"/>', {"ownerid": ALICE}, False),
    ('<condition attribute="ownerid" operator="eq-useroruserteams"/>', {"ownerid": ALICE}, True),
    ('<condition attribute="ownerid" operator="eq-useroruserteams"/>', {"ownerid": SALES.upper()}, True),
    ('<condition attribute="ownerid" operator="eq-useroruserteams"/>', {"ownerid": BOB}, False),
    ('<condition attribute="owningbusinessunit" operator="eq-businessid"/>', {"owningbusinessunit": EAST}, True),
    ('<condition attribute="owningbusinessunit" operator="eq-businessid"/>', {"_owningbusinessunit_value": WEST},
     False),
    ('<condition attribute="owningbusinessunit" operator="eq-businessid"/>', {}, False),
]


@pytest.mark.parametrize(("condition", "record", "expected"), ROWS)
def test_every_operator_compares_as_dynamics(condition: str, record: dict[str, Any], expected: bool) -> None:
    assert matches(_query(condition), record, WHO) is expected


def test_every_operator_has_a_row() -> None:
    groups = [_query(condition).filter for condition, _, _ in ROWS]
    assert {group.conditions[0].operator for group in groups if group is not None} == OPERATORS


def test_eq_businessid_for_a_user_without_a_business_unit_matches_nothing() -> None:
    who = Identity(user_id=ALICE, team_ids=frozenset(), business_unit_id=None)
    query = _query('<condition attribute="owningbusinessunit" operator="eq-businessid"/>')
    assert matches(query, {"owningbusinessunit": EAST}, who) is False


MY_ACTIVE = parse("""<fetch><entity name="contact"><filter type="and">
    <condition attribute="ownerid" operator="eq-userid"/><condition attribute="statecode" operator="eq" value="0"/>
    </filter></entity></fetch>""")


@pytest.mark.parametrize(("record", "expected"), [
    ({"ownerid": ALICE, "statecode": 0}, True),
    ({"ownerid": ALICE, "statecode": 1}, False),
    ({"ownerid": BOB, "statecode": 0}, False),
])
def test_and_needs_every_condition(record: dict[str, Any], expected: bool) -> None:
    assert matches(MY_ACTIVE, record, WHO) is expected


NESTED = parse("""<fetch><entity name="contact"><filter type="or">
    <condition attribute="ownerid" operator="eq-userid"/>
    <filter type="and"><condition attribute="jobtitle" operator="eq" value="Buyer"/>
      <filter type="or"><condition attribute="statecode" operator="eq" value="0"/>
        <condition attribute="lastname" operator="like" value="S%"/></filter></filter>
    </filter></entity></fetch>""")


@pytest.mark.parametrize(("record", "expected"), [
    ({"ownerid": ALICE, "statecode": 1}, True),  # the first branch of the or
    ({"ownerid": BOB, "jobtitle": "Buyer", "statecode": 0}, True),  # and, then the inner or's first branch
    ({"ownerid": BOB, "jobtitle": "Buyer", "statecode": 1, "lastname": "Smith"}, True),  # the inner or's second
    ({"ownerid": BOB, "jobtitle": "Buyer", "statecode": 1, "lastname": "Jones"}, False),
    ({"ownerid": BOB, "jobtitle": "CEO", "statecode": 0}, False),
])
def test_nested_groups_combine_as_written(record: dict[str, Any], expected: bool) -> None:
    assert matches(NESTED, record, WHO) is expected


def test_no_filter_and_empty_groups_take_every_record() -> None:
    assert matches(FetchQuery("contact", None), {}, WHO)
    assert matches(FetchQuery("contact", FilterGroup("or", (), ())), {"x": 1}, WHO)
    assert matches(FetchQuery("contact", FilterGroup("and", (), ())), {"x": 1}, WHO)


@given(st.lists(st.booleans(), min_size=1, max_size=6), st.sampled_from(["and", "or"]))
def test_a_group_is_all_or_any_of_its_conditions(outcomes: list[bool], kind: str) -> None:
    conditions = tuple(Condition(f"f{i}", "eq", ("1",)) for i in range(len(outcomes)))
    record = {f"f{i}": 1 if hit else 0 for i, hit in enumerate(outcomes)}
    group = FilterGroup("and" if kind == "and" else "or", conditions, ())
    assert matches(FetchQuery("contact", group), record, WHO) is (all(outcomes) if kind == "and" else any(outcomes))
