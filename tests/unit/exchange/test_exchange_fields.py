"""exchange_fields: canonical -> exchangelib -> canonical is the identity for every field it can write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import EWSDate, HTMLBody
from exchangelib.indexed_properties import PhoneNumber
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.catalogue import load_catalogue
from shared.exchange import fields as ef
from shared.recurrence import normal_form

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)
line = text.filter(lambda s: "\n" not in s and "\r" not in s)
maybe = st.none() | text
stamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
)
midnights = st.dates(min_value=datetime(2000, 1, 1).date()).map(lambda d: f"{d.isoformat()}T00:00:00Z")
emails = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.test", fullmatch=True)


def address(prefix: str) -> st.SearchStrategy[dict[str, Any]]:
    parts = ("line1", "line2", "line3", "city", "stateorprovince", "postalcode", "country")
    return st.fixed_dictionaries({f"{prefix}_{p}": st.none() | line for p in parts})


# Recurrence patterns in normal form (shared.recurrence; its own tests cover every pattern and end type).
SERIES = [
    normal_form({"recurrencepatterntype": 1, "interval": 1, "daysofweekmask": 10, "patternstartdate": "2026-12-07",
                 "patternendtype": 2, "occurrences": 10, "starttime": "2026-12-07T09:00:00Z", "duration": 30}),
    normal_form({"recurrencepatterntype": 2, "interval": 1, "isnthmonthly": True, "instance": 5, "daysofweekmask": 62,
                 "patternstartdate": "2026-12-01", "patternendtype": 3, "patternenddate": "2027-12-31",
                 "starttime": "2026-12-01T15:00:00Z", "endtime": "2026-12-01T16:00:00Z"}),
]  # fmt: skip


def canonical_values(entity: str) -> st.SearchStrategy[dict[str, Any]]:
    """Every writable field with a value the mapping can represent exactly."""
    special: dict[str, st.SearchStrategy[Any]] = {
        "anniversary": st.dates().map(lambda d: d.isoformat()),
        "birthdate": st.dates().map(lambda d: d.isoformat()),
        "fullname": st.fixed_dictionaries({k: st.none() | line for k in ("firstname", "middlename", "lastname")}),
        "address1_composite": address("address1"),
        "address2_composite": address("address2"),
        "address3_composite": address("address3"),
        "appointment_time": st.tuples(stamps, st.integers(0, 10_000)).map(
            lambda t: {
                "scheduledstart": t[0],
                "scheduledend": (datetime.fromisoformat(t[0]) + timedelta(minutes=t[1]))
                .strftime("%Y-%m-%dT%H:%M:%SZ"),
                "scheduleddurationminutes": t[1],
                "isalldayevent": False,
            }
        ),
        "prioritycode": st.sampled_from([0, 1, 2]),
        "optionalattendees": st.lists(emails, max_size=3),
        "requiredattendees": st.lists(emails, max_size=3),
        "appointment_status": st.sampled_from([{"statecode": s, "statuscode": c} for s, c in ef.FREE_BUSY.values()]),
        "status": st.sampled_from([{"statecode": s, "statuscode": c} for s, c in ef.TASK_STATUS.values()]
                                  if entity == "task" else
                                  [{"statecode": 0, "statuscode": 1},
                                   {"statecode": 1, "statuscode": ef.COMPLETED_REASON.get(entity, 0)}]),
        "percentcomplete": st.integers(0, 100),
        "scheduledend": midnights,
        "scheduledstart": midnights,
        "recurrence_pattern": st.sampled_from(SERIES),
        # A lookup reaches Exchange as its record's name only: {"name": ...} is what Exchange holds (stored_as).
        "regardingobjectid": st.none() | line.map(lambda n: {"name": n}),
        "parentcustomerid": st.none() | line.map(lambda n: {"name": n}),
    }
    writable = {k: c for k, c in ef.CODECS[entity].items() if c.write is not None}
    return st.fixed_dictionaries({k: special.get(k, maybe) for k in writable})


ENTITIES = ["contact", "appointment", "task", "phonecall", "letter", "fax", "serviceappointment",
            "recurringappointmentmaster"]


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_catalogue_field_is_mapped_or_declared_unmapped(entity: str) -> None:
    spec = load_catalogue().entity(entity)
    assert spec is not None
    missing = {f.key for f in spec.fields} - set(ef.CODECS[entity])
    assert missing <= {"attachments"}


def test_a_lookup_reaches_exchange_as_its_records_name() -> None:
    account = {"id": "a1", "logicalname": "account", "name": "Contoso"}
    assert ef.to_exchange("contact", {"parentcustomerid": account}).attributes == {"company_name": "Contoso"}
    assert ef.to_exchange("phonecall", {"regardingobjectid": account}).attributes == {"crm_regarding": "Contoso"}
    assert ef.to_exchange("fax", {"regardingobjectid": None}).attributes == {"crm_regarding": None}
    assert ef.stored_as("letter", "regardingobjectid", account) == {"name": "Contoso"}
    assert ef.to_canonical("contact", {"company_name": "Contoso"})["parentcustomerid"] == {"name": "Contoso"}
    with pytest.raises(ef.FieldValueError):
        ef.to_exchange("task", {"regardingobjectid": "a bare id"})


@pytest.mark.parametrize(
    ("entity", "status", "exchange", "back"),
    [
        ("phonecall", (0, 1), "NotStarted", (0, 1)),
        ("phonecall", (1, 2), "Completed", (1, 2)),  # Made
        ("phonecall", (1, 4), "Completed", (1, 2)),  # Received: completed, read back as Made
        ("phonecall", (2, 3), "Deferred", (0, 1)),  # Canceled has no Exchange counterpart: the nearest
        ("letter", (1, 4), "Completed", (1, 4)),  # Sent
        ("fax", (1, 2), "Completed", (1, 2)),
        ("fax", (0, 1), "NotStarted", (0, 1)),
    ],
)
def test_phone_call_letter_and_fax_status_maps_to_the_task_status(
    entity: str, status: tuple[int, int], exchange: str, back: tuple[int, int]
) -> None:
    value = {"statecode": status[0], "statuscode": status[1]}
    write = ef.to_exchange(entity, {"status": value})
    assert write.attributes == {"status": exchange}
    assert ef.to_canonical(entity, write.attributes)["status"] == {"statecode": back[0], "statuscode": back[1]}
    assert ef.to_canonical(entity, {"status": "InProgress"})["status"] == {"statecode": 0, "statuscode": 1}
    with pytest.raises(ef.FieldValueError):
        ef.to_exchange(entity, {"status": {"statecode": 5}})


@pytest.mark.parametrize("status", [1, 2, 3, 4, 6, 7, 8, 9, 10])
def test_every_service_activity_status_reason_has_a_free_busy_state(status: int) -> None:
    state = {1: 0, 2: 0, 3: 3, 4: 3, 6: 3, 7: 3, 8: 1, 9: 2, 10: 2}[status]
    write = ef.to_exchange("serviceappointment", {"appointment_status": {"statecode": state, "statuscode": status}})
    assert write.attributes["legacy_free_busy_status"] in ef.FREE_BUSY


def test_phone_calls_letters_and_faxes_are_tasks_without_percent_complete() -> None:
    for entity in ("phonecall", "letter", "fax"):
        assert set(ef.CODECS[entity]) == set(ef.CODECS["task"]) - {"percentcomplete"}
    assert set(ef.CODECS["serviceappointment"]) == set(ef.CODECS["appointment"]) - {"attachments"}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("entity", ENTITIES)
def test_canonical_to_exchange_to_canonical_is_identity(entity: str, data: st.DataObject) -> None:
    values = data.draw(canonical_values(entity))
    write = ef.to_exchange(entity, values)
    assert write.unmapped == () and write.read_only == ()
    back = ef.to_canonical(entity, write.attributes)
    assert {k: back[k] for k in values} == values


def test_writing_one_phone_keeps_the_other_labels() -> None:
    current = {"phone_numbers": [PhoneNumber(label="CarPhone", phone_number="1"),
                                 PhoneNumber(label="BusinessPhone", phone_number="2")]}
    write = ef.to_exchange("contact", {"telephone1": "3", "mobilephone": "4"}, current)
    labels = {p.label: p.phone_number for p in write.attributes["phone_numbers"]}
    assert labels == {"CarPhone": "1", "BusinessPhone": "3", "MobilePhone": "4"}


def test_clearing_a_phone_removes_only_its_entry() -> None:
    current = {"phone_numbers": [PhoneNumber(label="Pager", phone_number="1"),
                                 PhoneNumber(label="BusinessPhone", phone_number="2")]}
    write = ef.to_exchange("contact", {"telephone1": None}, current)
    assert [p.label for p in write.attributes["phone_numbers"]] == ["Pager"]


def test_fullname_also_writes_display_name() -> None:
    write = ef.to_exchange("contact", {"fullname": {"firstname": "Ada", "middlename": None, "lastname": "Byron"}})
    assert write.attributes["display_name"] == "Ada Byron"


def test_read_only_and_unmapped_fields_are_reported_not_written() -> None:
    write = ef.to_exchange("appointment", {"organizer": "a@b.test", "recurrence_pattern": {}, "subject": "S"})
    assert write.attributes == {"subject": "S"}
    assert write.read_only == ("organizer",) and write.unmapped == ("recurrence_pattern",)


def test_attachments_are_read_as_resolved_entries_and_written_apart() -> None:
    entry = {"name": "a.txt", "content_type": "text/plain", "size": 1, "sha256": "f" * 64}
    assert ef.to_canonical("appointment", {"attachments": [entry]})["attachments"] == [entry]
    assert ef.to_canonical("appointment", {"attachments": []})["attachments"] is None
    # A listing the capture has not resolved (no digest) is no value.
    assert ef.to_canonical("appointment", {"attachments": [object()]})["attachments"] is None
    write = ef.to_exchange("appointment", {"attachments": [entry], "subject": "S"})
    assert write.attributes == {"subject": "S"} and write.read_only == () and write.unmapped == ()


def test_all_day_appointment_reads_back_as_midnight_to_midnight() -> None:
    attrs = {"start": EWSDate(2026, 11, 25), "end": EWSDate(2026, 11, 25), "is_all_day": True}
    assert ef.to_canonical("appointment", attrs)["appointment_time"] == {
        "scheduledstart": "2026-11-25T00:00:00Z", "scheduledend": "2026-11-26T00:00:00Z",
        "scheduleddurationminutes": 1440, "isalldayevent": True,
    }


def test_task_dates_keep_only_the_day() -> None:
    write = ef.to_exchange("task", {"scheduledend": "2026-11-25T10:30:00Z"})
    assert ef.to_canonical("task", write.attributes)["scheduledend"] == "2026-11-25T00:00:00Z"


def test_html_body_reads_as_plain_text() -> None:
    assert ef.to_canonical("contact", {"body": HTMLBody("<p>Hi <b>there</b></p>")})["description"] == "Hi there"


def test_empty_item_reads_as_nulls_and_defaults() -> None:
    task = ef.to_canonical("task", {})
    assert task["status"] == {"statecode": 0, "statuscode": 2} and task["prioritycode"] == 1
    assert task["subject"] is None and task["percentcomplete"] is None


def test_datetimes_are_sent_in_utc() -> None:
    write = ef.to_exchange("appointment", {"appointment_time": {
        "scheduledstart": "2026-11-25T11:00:00+01:00", "scheduledend": None,
        "scheduleddurationminutes": 30, "isalldayevent": False}})
    assert write.attributes["start"] == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert write.attributes["end"] - write.attributes["start"] == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("entity", "changed"),
    [
        ("contact", {"telephone1": 5}),
        ("contact", {"birthdate": "not a date"}),
        ("contact", {"fullname": "Ada Byron"}),
        ("appointment", {"prioritycode": 7}),
        ("appointment", {"prioritycode": True}),
        ("appointment", {"appointment_time": {"scheduledstart": "2026-11-25T10:00:00"}}),
        ("appointment", {"appointment_time": {"scheduledstart": "2026-11-25T10:00:00Z",
                                              "scheduledend": "2026-11-25T09:00:00Z"}}),
        ("appointment", {"requiredattendees": "a@b.test"}),
        ("appointment", {"appointment_status": {"statecode": 9, "statuscode": 99}}),
        ("task", {"status": {"statecode": 0}}),
        ("task", {"percentcomplete": 101}),
    ],
)
def test_values_exchange_cannot_take_raise_field_value_error(entity: str, changed: dict[str, Any]) -> None:
    with pytest.raises(ef.FieldValueError):
        ef.to_exchange(entity, changed)


@pytest.mark.parametrize(
    ("entity", "key", "crm", "exchange"),
    [
        ("appointment", "appointment_status", {"statecode": 1, "statuscode": 3}, "Busy"),  # Completed
        ("appointment", "appointment_status", {"statecode": 2, "statuscode": 4}, "Free"),  # Canceled
        ("task", "status", {"statecode": 2, "statuscode": 6}, "Deferred"),  # Canceled
    ],
)
def test_statuses_exchange_cannot_show_are_written_as_the_nearest(
    entity: str, key: str, crm: dict[str, int], exchange: str
) -> None:
    attr = "legacy_free_busy_status" if entity == "appointment" else "status"
    assert ef.to_exchange(entity, {key: crm}).attributes == {attr: exchange}


# Each recurring appointment pair, named: the canonical value, and what it writes on the series master.
RECURRING_PAIRS = [
    ("subject", "Weekly sync", "subject", "Weekly sync"),
    ("description", "Agenda", "body", "Agenda"),
    ("location", "Room 7", "location", "Room 7"),
    ("prioritycode", 2, "importance", "High"),
    ("requiredattendees", ["a@b.test"], "required_attendees", ["a@b.test"]),
    ("optionalattendees", ["c@d.test"], "optional_attendees", ["c@d.test"]),
    ("regardingobjectid", {"id": "0a0a0a0a-0000-0000-0000-000000000001", "logicalname": "account", "name": "Account A"},
     "crm_regarding", "Account A"),  # Exchange holds the record's name only
    ("appointment_status", {"statecode": 3, "statuscode": 6}, "legacy_free_busy_status", "OOF"),
    ("recurrence_pattern", SERIES[0], "recurrence", None),
]


@pytest.mark.parametrize(("key", "value", "attribute", "written"), RECURRING_PAIRS, ids=[p[0] for p in RECURRING_PAIRS])
def test_each_recurring_appointment_pair_is_written_to_the_series_master_and_read_back(
    key: str, value: Any, attribute: str, written: Any
) -> None:
    write = ef.to_exchange("recurringappointmentmaster", {key: value})
    shown = write.attributes[attribute]
    if isinstance(shown, list):
        shown = [a.mailbox.email_address for a in shown]
    if written is not None:
        assert (str(shown) if attribute == "body" else shown) == written
    back = ef.to_canonical("recurringappointmentmaster", write.attributes)[key]
    assert back == ef.stored_as("recurringappointmentmaster", key, value) and back is not None


def test_the_recurring_organizer_is_read_only_in_exchange() -> None:
    write = ef.to_exchange("recurringappointmentmaster", {"organizer": "a@b.test"})
    assert write.read_only == ("organizer",) and write.attributes == {}


def test_a_pattern_exchange_cannot_hold_is_refused_with_the_reason() -> None:
    with pytest.raises(ef.FieldValueError, match="interval"):
        ef.to_exchange("recurringappointmentmaster", {"recurrence_pattern": {**SERIES[0], "recurrencepatterntype": 3,
                                                                             "interval": 2, "dayofmonth": 1,
                                                                             "monthofyear": 1}})
