"""Table tests of verify's comparison: what differs, what is one-way only, what is only representation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.admin_api.verify import Flow, Reading, build_report, compare, exchange_view, flows
from services.admin_api.verify_schemas import Pair
from shared.catalogue import load_catalogue
from shared.events import Direction, Policy
from shared.recurrence import normal_form

CATALOGUE = load_catalogue()
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
NOT_STARTED = {"statecode": 0, "statuscode": 2}
IN_PROGRESS = {"statecode": 0, "statuscode": 3}
COMPLETED = {"statecode": 1, "statuscode": 5}
ADDRESS = {f"address1_{part}": None for part in
           ("line1", "line2", "line3", "city", "stateorprovince", "postalcode", "country")}
TIME = {"scheduledstart": "2030-05-01T15:30:00Z", "scheduledend": "2030-05-01T16:30:00Z"}


SERIES = {"recurrencepatterntype": 1, "interval": 1, "daysofweekmask": 10, "patternstartdate": "2030-01-07",
          "patternendtype": 1, "starttime": "2030-01-07T09:00:00Z", "endtime": "2030-01-07T09:30:00Z"}


def policy(changes: dict[str, dict[str, Direction]] | None = None) -> Policy:
    directions = CATALOGUE.default_directions()
    for entity, fields in (changes or {}).items():
        directions[entity].update(fields)
    return Policy(version=7, updated_at=NOW, updated_by="test", directions=directions)


def pair(entity: str = "contact") -> Pair:
    return Pair(entity=entity, crm_id="c-1", mailbox="alice@sandbox.local", exchange_id="x-1")


def outcome(entity: str, crm: dict[str, Any], exchange: dict[str, Any],
            changes: dict[str, Direction] | None = None) -> dict[str, str]:
    """field -> "difference" | "one_way" for everything compare reports."""
    fields = flows(CATALOGUE.entities[entity], policy({entity: changes or {}}))
    found = compare(Reading(pair(entity), crm, exchange), fields)
    assert not found.missing
    return {**{d.field: "difference" for d in found.differences}, **{d.field: "one_way" for d in found.one_way}}


@pytest.mark.parametrize(
    ("entity", "crm", "exchange", "changes", "expected"),
    [
        # both ways: equal agrees, different differs
        ("contact", {"jobtitle": "Buyer"}, {"jobtitle": "Buyer"}, None, {}),
        ("contact", {"jobtitle": "Buyer"}, {"jobtitle": "Seller"}, None, {"jobtitle": "difference"}),
        ("contact", {"jobtitle": "Buyer"}, {}, None, {"jobtitle": "difference"}),
        ("contact", {"description": "a"}, {"description": "b"}, None, {"description": "difference"}),
        ("contact", {"birthdate": "1990-02-03"}, {"birthdate": "1990-02-04"}, None, {"birthdate": "difference"}),
        # representation only: Exchange has no empty strings, joins children, keeps names apart
        ("contact", {"nickname": ""}, {"nickname": None}, None, {}),
        ("contact", {"childrensnames": "Ann, Bob"}, {"childrensnames": "Ann, Bob"}, None, {}),
        ("contact", {"fullname": {"firstname": "A", "middlename": "", "lastname": "B"}},
         {"fullname": {"firstname": "A", "middlename": None, "lastname": "B"}}, None, {}),
        ("contact", {"address1_composite": {**ADDRESS, "address1_line1": "1 Road", "address1_city": "Town",
                                            "address1_line2": ""}},
         {"address1_composite": {**ADDRESS, "address1_line1": "1 Road", "address1_city": "Town"}}, None, {}),
        ("contact", {"address1_composite": {**ADDRESS, "address1_city": "Town"}},
         {"address1_composite": {**ADDRESS, "address1_city": "City"}}, None, {"address1_composite": "difference"}),
        # one way only: informational; `none` and unmapped fields are not compared at all
        ("contact", {"nickname": "A"}, {"nickname": "B"}, {"nickname": "to_exchange"}, {"nickname": "one_way"}),
        ("contact", {"jobtitle": "A"}, {"jobtitle": "B"}, {"jobtitle": "to_crm"}, {"jobtitle": "one_way"}),
        ("contact", {"department": "A"}, {"department": "B"}, {"department": "none"}, {}),
        # a lookup: Exchange holds its record's name; the same name is no difference, another one flows CRM to
        # Exchange only (CRM cannot take a typed name)
        ("contact", {"parentcustomerid": {"id": "5f0c", "logicalname": "account", "name": "Contoso"}},
         {"parentcustomerid": {"name": "Contoso"}}, None, {}),
        ("contact", {"parentcustomerid": {"id": "5f0c", "logicalname": "account", "name": "Contoso"}},
         {"parentcustomerid": {"name": "Fabrikam"}}, None, {"parentcustomerid": "one_way"}),
        # task dates are date-only in EWS: the time of day is not a difference, the day is
        ("task", {"scheduledend": "2030-05-01T15:30:00Z"}, {"scheduledend": "2030-05-01T00:00:00Z"}, None, {}),
        ("task", {"scheduledstart": "2030-04-01T23:59:59Z"}, {"scheduledstart": "2030-04-01T00:00:00Z"}, None, {}),
        ("task", {"scheduledend": "2030-05-01T15:30:00Z"}, {"scheduledend": "2030-05-02T00:00:00Z"}, None,
         {"scheduledend": "difference"}),
        # exchangelib's task rules: a due date before the start moves to the start
        ("task", {"scheduledstart": "2030-04-01T08:00:00Z", "scheduledend": "2030-03-01T08:00:00Z"},
         {"scheduledstart": "2030-04-01T00:00:00Z", "scheduledend": "2030-04-01T00:00:00Z"}, None, {}),
        # ... and the percentage follows a NotStarted / Completed status; Exchange's own value is never adjusted
        ("task", {"percentcomplete": 10, "status": NOT_STARTED}, {"percentcomplete": 0, "status": NOT_STARTED},
         None, {}),
        ("task", {"percentcomplete": 50, "status": COMPLETED}, {"percentcomplete": 100, "status": COMPLETED},
         None, {}),
        ("task", {"percentcomplete": 30, "status": NOT_STARTED}, {"percentcomplete": 30, "status": NOT_STARTED},
         None, {}),
        ("task", {"percentcomplete": 20, "status": NOT_STARTED}, {"percentcomplete": 10, "status": NOT_STARTED},
         None, {"percentcomplete": "difference"}),
        ("task", {"percentcomplete": 20, "status": IN_PROGRESS}, {"percentcomplete": 0, "status": IN_PROGRESS},
         None, {"percentcomplete": "difference"}),
        ("task", {"status": {"statecode": 2, "statuscode": 6}}, {"status": {"statecode": 0, "statuscode": 7}},
         None, {}),  # canceled: written as the nearest, Deferred
        ("task", {"status": COMPLETED}, {"status": IN_PROGRESS}, None, {"status": "difference"}),
        ("task", {"prioritycode": None}, {"prioritycode": 1}, None, {}),
        ("task", {"prioritycode": 2}, {"prioritycode": 1}, None, {"prioritycode": "difference"}),
        # a field Exchange cannot write flows to CRM only: informational
        ("task", {"actualend": "2020-01-01T10:00:00Z"}, {"actualend": "2026-12-01T22:44:52Z"}, None,
         {"actualend": "one_way"}),
        ("task", {"actualend": "2020-01-01T10:00:00Z"}, {"actualend": None}, {"actualend": "to_exchange"}, {}),
        ("appointment", {"organizer": None}, {"organizer": "alice@sandbox.local"}, None, {"organizer": "one_way"}),
        # appointments: Exchange computes the duration; unset attendees are an empty list; nearest status
        ("appointment", {"appointment_time": {**TIME, "scheduleddurationminutes": None, "isalldayevent": None}},
         {"appointment_time": {**TIME, "scheduleddurationminutes": 60, "isalldayevent": False}}, None, {}),
        ("appointment", {"appointment_time": {**TIME, "scheduleddurationminutes": 60, "isalldayevent": False}},
         {"appointment_time": {**TIME, "scheduledstart": "2030-05-01T15:00:00Z", "scheduleddurationminutes": 90,
                               "isalldayevent": False}}, None, {"appointment_time": "difference"}),
        ("appointment", {"optionalattendees": None}, {"optionalattendees": []}, None, {}),
        ("appointment", {"requiredattendees": ["a@x"]}, {"requiredattendees": ["b@x"]}, None,
         {"requiredattendees": "difference"}),
        ("appointment", {"appointment_status": {"statecode": 1, "statuscode": 3}},
         {"appointment_status": {"statecode": 3, "statuscode": 5}}, None, {}),
        ("appointment", {"appointment_status": {"statecode": 0, "statuscode": 1}},
         {"appointment_status": {"statecode": 3, "statuscode": 5}}, None, {"appointment_status": "difference"}),
        # a value Exchange cannot take at all is kept as it is, so it still differs
        ("task", {"percentcomplete": 150}, {"percentcomplete": 100}, None, {"percentcomplete": "difference"}),
        # a recurrence pattern: the same series agrees whatever stray attributes CRM holds; another one differs
        ("recurringappointmentmaster", {"recurrence_pattern": {**SERIES, "dayofmonth": 3, "duration": None}},
         {"recurrence_pattern": normal_form(SERIES)}, None, {}),
        ("recurringappointmentmaster", {"recurrence_pattern": normal_form(SERIES)},
         {"recurrence_pattern": normal_form({**SERIES, "interval": 2})}, None, {"recurrence_pattern": "difference"}),
    ],
)
def test_compare(entity: str, crm: dict[str, Any], exchange: dict[str, Any], changes: dict[str, Direction] | None,
                 expected: dict[str, str]) -> None:
    assert outcome(entity, crm, exchange, changes) == expected


def test_a_difference_carries_both_values_and_a_one_way_one_its_direction_and_note() -> None:
    fields = flows(CATALOGUE.entities["contact"], policy({"contact": {"nickname": "to_exchange"}}))
    found = compare(Reading(pair(), {"jobtitle": "A", "nickname": "N"}, {"jobtitle": "B", "nickname": "M"}), fields)
    (difference,) = found.differences
    assert difference.model_dump() == {"entity": "contact", "crm_id": "c-1", "mailbox": "alice@sandbox.local",
                                       "exchange_id": "x-1", "field": "jobtitle", "crm_value": "A",
                                       "exchange_value": "B"}
    (one_way,) = found.one_way
    assert (one_way.field, one_way.direction, one_way.crm_value, one_way.exchange_value) == ("nickname",
                                                                                             "to_exchange", "N", "M")
    assert "edited in Exchange" in one_way.note


@pytest.mark.parametrize(
    ("crm", "exchange", "missing_on"),
    [(None, {}, ["crm"]), ({}, None, ["exchange"]), (None, None, ["crm", "exchange"]), ({}, {}, [])],
)
def test_missing_sides(crm: dict[str, Any] | None, exchange: dict[str, Any] | None, missing_on: list[str]) -> None:
    found = compare(Reading(pair(), crm, exchange), {"jobtitle": Flow("both")})
    assert [m.missing_on for m in found.missing] == missing_on
    assert all(m.exchange_id == "x-1" and m.crm_id == "c-1" for m in found.missing)


def test_an_untracked_item_is_not_compared() -> None:
    found = compare(Reading(pair(), {"jobtitle": "A"}, {"jobtitle": "B"}, untracked=True), {"jobtitle": Flow("both")})
    assert found.differences == () and found.one_way == () and found.missing == ()


def test_flows_follow_the_policy_and_what_each_side_can_hold() -> None:
    contact = flows(CATALOGUE.entities["contact"], policy({"contact": {"department": "none", "nickname": "to_crm"}}))
    assert "department" not in contact  # none
    assert contact["parentcustomerid"] == Flow("to_exchange")  # CRM cannot bind a typed company name
    assert contact["nickname"] == Flow("to_crm") and contact["fullname"] == Flow("both")
    appointment = flows(CATALOGUE.entities["appointment"], policy())
    assert "attachments" not in appointment  # no CRM attribute
    assert appointment["organizer"] == Flow("to_crm", exchange_writable=False)
    task = flows(CATALOGUE.entities["task"], policy({"task": {"actualend": "to_exchange"}}))
    assert "actualend" not in task  # CRM to Exchange only, and Exchange cannot write it: it flows nowhere
    fax = flows(CATALOGUE.entities["fax"], policy())  # a task in Exchange: the task's pairs but % Complete
    assert fax["subject"] == Flow("both") and fax["regardingobjectid"] == Flow("to_exchange")
    assert fax["actualend"] == Flow("to_crm", exchange_writable=False)


def test_exchange_view_is_what_exchange_reads_back() -> None:
    view = exchange_view("task", {"scheduledend": "2030-05-01T15:30:00+02:00", "subject": "", "percentcomplete": 5,
                                  "status": COMPLETED, "actualend": "2020-01-01T00:00:00Z"})
    assert view == {"scheduledend": "2030-05-01T00:00:00Z", "subject": None, "percentcomplete": 100,
                    "status": COMPLETED, "actualend": "2020-01-01T00:00:00Z"}


def test_report_is_consistent_unless_something_differs_or_is_missing() -> None:
    fields = flows(CATALOGUE.entities["contact"], policy({"contact": {"nickname": "to_exchange"}}))
    one_way = compare(Reading(pair(), {"nickname": "N"}, {"nickname": "M"}), fields)
    report = build_report([one_way, compare(Reading(pair(), {}, {}), fields)], 2, 0, 7)
    assert report.consistent and report.pairs_checked == 2 and report.policy_version == 7
    assert len(report.one_way_differences) == 1 and report.differences == [] and report.missing == []
    missing = compare(Reading(pair(), {}, None), fields)
    assert not build_report([one_way, missing], 2, 1, 7).consistent
    b, a = (compare(Reading(pair(), {"jobtitle": v, "department": v}, {}), fields) for v in ("x", "y"))
    ordered = build_report([b, a], 2, 0, 7).differences
    assert [d.field for d in ordered] == ["department", "department", "jobtitle", "jobtitle"]
