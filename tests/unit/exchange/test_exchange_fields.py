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
        "status": st.sampled_from([{"statecode": s, "statuscode": c} for s, c in ef.TASK_STATUS.values()]),
        "percentcomplete": st.integers(0, 100),
        "scheduledend": midnights,
        "scheduledstart": midnights,
    }
    writable = {k: c for k, c in ef.CODECS[entity].items() if c.write is not None}
    return st.fixed_dictionaries({k: special.get(k, maybe) for k in writable})


@pytest.mark.parametrize("entity", ["contact", "appointment", "task"])
def test_every_catalogue_field_is_mapped_or_declared_unmapped(entity: str) -> None:
    spec = load_catalogue().entity(entity)
    assert spec is not None
    missing = {f.key for f in spec.fields} - set(ef.CODECS[entity])
    assert missing <= {"attachments", "parentcustomerid"}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("entity", ["contact", "appointment", "task"])
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
    write = ef.to_exchange("appointment", {"organizer": "a@b.test", "attachments": [], "subject": "S"})
    assert write.attributes == {"subject": "S"}
    assert write.read_only == ("organizer",) and write.unmapped == ("attachments",)


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
