"""Contacts, appointments and tasks through exchangelib against the Exchange sandbox."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    ExtendedProperty,
    Task,
    Version,
)
from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.exchange.server import ExchangeSandboxUrls

pytestmark = pytest.mark.integration


class SandboxGovernmentId(ExtendedProperty):
    property_tag = 0x3A07
    property_type = "String"


class SandboxYomiFirstName(ExtendedProperty):
    # phonetic_first_name is read-only in exchangelib: clients write PidLidYomiFirstName instead.
    property_set_id = "00062004-0000-0000-C000-000000000046"
    property_id = 0x802C
    property_type = "String"


class SandboxYomiLastName(ExtendedProperty):
    property_set_id = "00062004-0000-0000-C000-000000000046"
    property_id = 0x802D
    property_type = "String"


class SandboxCrmId(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "crm_id"
    property_type = "String"


@pytest.fixture
def account(sandbox: ExchangeSandboxUrls) -> Account:
    address = f"user-{uuid.uuid4().hex[:8]}@sandbox.local"
    assert httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": "User"}).is_success
    config = Configuration(
        service_endpoint=sandbox.ews_url,
        credentials=Credentials("fieldsync-svc@sandbox.local", "sandbox-password"),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
    )
    return Account(primary_smtp_address=address, config=config, autodiscover=False, access_type=IMPERSONATION)


@pytest.fixture
def extended_contact_fields() -> Iterator[None]:
    # Registration is process-wide in exchangelib: use sandbox-only names and always take them back.
    Contact.register("sbx_government_id", SandboxGovernmentId)
    Contact.register("sbx_crm_id", SandboxCrmId)
    Contact.register("sbx_yomi_first_name", SandboxYomiFirstName)
    Contact.register("sbx_yomi_last_name", SandboxYomiLastName)
    try:
        yield
    finally:
        for name in ("sbx_government_id", "sbx_crm_id", "sbx_yomi_first_name", "sbx_yomi_last_name"):
            Contact.deregister(name)


def test_contact_create_update_delete_round_trips_every_kind_of_field(
    account: Account, extended_contact_fields: None
) -> None:
    contact = Contact(
        folder=account.contacts,
        given_name="Ada",
        middle_name="K",
        surname="Lovelace",
        display_name="Ada Lovelace",
        nickname="Ada",
        company_name="Engines Ltd",
        job_title="Analyst",
        department="Maths",
        assistant_name="Charles",
        manager="Babbage",
        spouse_name="William",
        children=["Byron", "Anne"],
        birthday=datetime.date(1815, 12, 10),
        wedding_anniversary=datetime.date(1835, 7, 8),
        business_homepage="https://engines.example",
        sbx_yomi_first_name="Ae-da",
        sbx_yomi_last_name="Luv-lace",
        body="Met at the exhibition",
        categories=["VIP", "CRM"],
        email_addresses=[EmailAddress(label="EmailAddress1", email="ada@engines.example")],
        phone_numbers=[
            PhoneNumber(label="BusinessPhone", phone_number="+44 1"),
            PhoneNumber(label="MobilePhone", phone_number="+44 2"),
            PhoneNumber(label="AssistantPhone", phone_number="+44 3"),
        ],
        physical_addresses=[
            PhysicalAddress(
                label="Business", street="1 Engine St", city="London", state="LDN", country="UK", zipcode="W1"
            ),
        ],
    )
    contact.save()
    first_key = contact.changekey
    got = account.contacts.get(id=contact.id, changekey=contact.changekey)
    assert (got.given_name, got.middle_name, got.surname, got.nickname) == ("Ada", "K", "Lovelace", "Ada")
    assert (got.company_name, got.job_title, got.department) == ("Engines Ltd", "Analyst", "Maths")
    assert (got.assistant_name, got.manager, got.spouse_name) == ("Charles", "Babbage", "William")
    assert got.children == ["Byron", "Anne"]
    assert (got.birthday, got.wedding_anniversary) == (datetime.date(1815, 12, 10), datetime.date(1835, 7, 8))
    assert got.business_homepage == "https://engines.example"
    assert (got.phonetic_first_name, got.phonetic_last_name) == ("Ae-da", "Luv-lace")
    assert got.body == "Met at the exhibition" and got.categories == ["VIP", "CRM"]
    assert {p.label: p.phone_number for p in got.phone_numbers} == {
        "BusinessPhone": "+44 1",
        "MobilePhone": "+44 2",
        "AssistantPhone": "+44 3",
    }
    assert got.email_addresses[0].email == "ada@engines.example"
    (address,) = got.physical_addresses
    assert (address.street, address.city, address.state, address.country, address.zipcode) == (
        "1 Engine St",
        "London",
        "LDN",
        "UK",
        "W1",
    )
    assert got.parent_folder_id.id == account.contacts.id and got.datetime_created is not None

    got.phone_numbers = [PhoneNumber(label="BusinessPhone", phone_number="+44 9")]
    got.physical_addresses = [PhysicalAddress(label="Home", city="Bath")]
    got.email_addresses = None
    got.nickname = None
    got.surname = "King"
    got.save(update_fields=["phone_numbers", "physical_addresses", "email_addresses", "nickname", "surname"])
    assert got.changekey != first_key
    got.refresh()
    assert {p.label: p.phone_number for p in got.phone_numbers} == {"BusinessPhone": "+44 9"}
    assert [(a.label, a.city, a.street) for a in got.physical_addresses] == [("Home", "Bath", None)]
    assert got.email_addresses is None and got.nickname is None and got.surname == "King"
    assert got.given_name == "Ada"  # untouched fields stay

    got.delete()
    with pytest.raises(ErrorItemNotFound):
        account.contacts.get(id=contact.id)


def test_appointment_round_trip_and_update(account: Account) -> None:
    berlin = EWSTimeZone("Europe/Berlin")
    start = EWSDateTime(2026, 12, 1, 10, 0, tzinfo=berlin)
    item = CalendarItem(
        folder=account.calendar,
        subject="Design review",
        start=start,
        end=start + datetime.timedelta(hours=1),
        location="Room 4",
        body="Agenda",
        importance="High",
        legacy_free_busy_status="Tentative",
        categories=["Project"],
    )
    item.save(send_meeting_invitations="SendToNone")
    got = account.calendar.get(id=item.id)
    assert got.subject == "Design review" and got.location == "Room 4" and got.body == "Agenda"
    assert got.start == start and got.end == start + datetime.timedelta(hours=1)
    assert got.start.tzinfo is not None
    assert (got.importance, got.legacy_free_busy_status, got.categories) == ("High", "Tentative", ["Project"])
    assert got.organizer.email_address == account.primary_smtp_address and not got.is_all_day

    got.start, got.end = start + datetime.timedelta(days=1), start + datetime.timedelta(days=1, hours=2)
    got.legacy_free_busy_status = "Busy"
    got.save(update_fields=["start", "end", "legacy_free_busy_status"])
    again = account.calendar.get(id=item.id)
    assert again.end - again.start == datetime.timedelta(hours=2)
    assert again.start == start + datetime.timedelta(days=1) and again.legacy_free_busy_status == "Busy"
    again.delete()
    assert list(account.calendar.all()) == []


def test_task_round_trip_and_completion(account: Account) -> None:
    task = Task(
        folder=account.tasks,
        subject="Call back",
        due_date=datetime.date(2026, 12, 5),
        start_date=datetime.date(2026, 12, 1),
        status="InProgress",
        percent_complete=Decimal(40),
        importance="Low",
    )
    task.save()
    got = account.tasks.get(id=task.id)
    assert (got.subject, got.due_date, got.start_date) == (
        "Call back",
        datetime.date(2026, 12, 5),
        datetime.date(2026, 12, 1),
    )
    assert (got.status, got.percent_complete, got.importance) == ("InProgress", Decimal(40), "Low")
    got.status = "Completed"
    got.percent_complete = Decimal(100)
    got.save(update_fields=["status", "percent_complete"])
    done = account.tasks.get(id=task.id)
    assert done.status == "Completed" and done.complete_date is not None and done.is_complete


def test_stale_change_key_is_an_irresolvable_conflict(account: Account) -> None:
    contact = Contact(folder=account.contacts, display_name="Conflicted", given_name="Old")
    contact.save()
    mine = account.contacts.get(id=contact.id)
    theirs = account.contacts.get(id=contact.id)
    theirs.given_name = "Theirs"
    theirs.save(update_fields=["given_name"])
    mine.given_name = "Mine"
    with pytest.raises(ErrorIrresolvableConflict):
        mine.save(update_fields=["given_name"])
    assert account.contacts.get(id=contact.id).given_name == "Theirs"


def test_bulk_create_update_delete_and_filters(account: Account) -> None:
    contacts = [
        Contact(folder=account.contacts, display_name=f"Bulk {n}", given_name=f"G{n}", surname="Bulk") for n in range(5)
    ]
    created = account.bulk_create(folder=account.contacts, items=contacts)
    assert all(c.id for c in created)
    fetched = list(account.fetch(ids=created))
    for contact in fetched:
        contact.job_title = f"Job {contact.given_name}"
    results = account.bulk_update(items=[(c, ["job_title"]) for c in fetched])
    assert len(results) == 5 and all(isinstance(r, tuple) for r in results)
    assert sorted(c.job_title for c in account.contacts.all()) == [f"Job G{n}" for n in range(5)]
    assert [c.given_name for c in account.contacts.filter(given_name="G3")] == ["G3"]
    assert account.contacts.filter(display_name__startswith="Bulk").count() == 5
    assert account.contacts.filter(given_name__in=["G1", "G2"]).count() == 2
    assert account.bulk_delete(ids=created[:2]) == [True, True]
    assert account.contacts.all().count() == 3


def test_extended_properties_round_trip(account: Account, extended_contact_fields: None) -> None:
    contact = Contact(folder=account.contacts, display_name="Extended", sbx_government_id="AB-123", sbx_crm_id="c-1")
    contact.save()
    got = account.contacts.get(id=contact.id)
    assert (got.sbx_government_id, got.sbx_crm_id) == ("AB-123", "c-1")
    got.sbx_crm_id = "c-2"
    got.sbx_government_id = None
    got.save(update_fields=["sbx_crm_id", "sbx_government_id"])
    got.refresh()
    assert (got.sbx_government_id, got.sbx_crm_id) == (None, "c-2")
    assert [c.display_name for c in account.contacts.filter(sbx_crm_id="c-2")] == ["Extended"]
