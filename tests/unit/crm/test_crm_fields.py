"""Row <-> canonical values: composites whole, normalised dates and times, lookups, write bodies."""

from __future__ import annotations

import pytest

from shared.catalogue import load_catalogue
from shared.crm.fields import canonical_attribute, canonical_fields, read_attributes, write_body

CATALOGUE = load_catalogue()
CONTACT = CATALOGUE.entities["contact"]
APPOINTMENT = CATALOGUE.entities["appointment"]
TASK = CATALOGUE.entities["task"]


@pytest.mark.parametrize(
    ("name", "raw", "canonical"),
    [
        ("scheduledstart", "2026-11-25T10:00:00Z", "2026-11-25T10:00:00Z"),
        ("scheduledstart", "2026-11-25T11:00:00+01:00", "2026-11-25T10:00:00Z"),
        ("scheduledstart", "2026-11-25T10:00:00.123456Z", "2026-11-25T10:00:00Z"),
        ("scheduledstart", "2026-11-25T10:00:00", "2026-11-25T10:00:00Z"),
        ("scheduledstart", "not a date", "not a date"),
        ("birthdate", "1980-02-29T00:00:00Z", "1980-02-29"),
        ("birthdate", "1980-02-29", "1980-02-29"),
        ("prioritycode", 2.0, 2),
        ("prioritycode", None, None),
        ("regardingobjectid", "ABCDEF01-0000-0000-0000-000000000000", "abcdef01-0000-0000-0000-000000000000"),
        ("subject", "Hello", "Hello"),
    ],
)
def test_canonical_attribute(name: str, raw: object, canonical: object) -> None:
    assert canonical_attribute(name, raw) == canonical


def test_contact_fullname_and_address_are_whole_dicts() -> None:
    row = {"contactid": "c1", "firstname": "Ada", "lastname": "Lovelace", "address1_city": "London"}
    fields = canonical_fields(CONTACT, row)
    assert fields["fullname"] == {"firstname": "Ada", "middlename": None, "lastname": "Lovelace"}
    assert fields["address1_composite"]["address1_city"] == "London"
    address = CONTACT.field("address1_composite")
    assert address is not None and set(fields["address1_composite"]) == set(address.crm_attributes)
    assert "attachments" not in canonical_fields(APPOINTMENT, {})


def test_lookup_is_read_from_its_value_attribute() -> None:
    assert canonical_fields(TASK, {"_regardingobjectid_value": "A-B"})["regardingobjectid"] == "a-b"
    assert "_regardingobjectid_value" in read_attributes(TASK)
    assert {"versionnumber", "modifiedon", "_ownerid_value", "_modifiedby_value"} <= set(read_attributes(TASK))


def test_write_body_spreads_composites_and_binds_lookups() -> None:
    body = write_body(
        TASK,
        {"status": {"statecode": 1, "statuscode": 5}, "regardingobjectid": "1234", "subject": "S"},
    )
    assert body == {
        "statecode": 1,
        "statuscode": 5,
        "regardingobjectid_contact@odata.bind": "/contacts(1234)",
        "subject": "S",
    }
    assert write_body(TASK, {"regardingobjectid": None}) == {"regardingobjectid_contact@odata.bind": None}


@pytest.mark.parametrize(
    ("changed", "error"),
    [
        ({"bogus": 1}, KeyError),
        ({"attachments": []}, KeyError),
        ({"status": 1}, ValueError),
        ({"status": {"statecode": 1, "other": 2}}, ValueError),
    ],
)
def test_write_body_refuses_unknown_fields_and_bad_composites(changed: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        write_body(TASK, changed)
