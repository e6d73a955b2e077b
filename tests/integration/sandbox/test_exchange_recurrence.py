"""Recurring calendar items (series masters) through exchangelib against the Exchange sandbox: create, read,
update of the pattern, sync_items, and the refusals of patterns EWS would refuse."""

from __future__ import annotations

import datetime
import uuid

import httpx
import pytest
from exchangelib import BASIC, IMPERSONATION, Account, CalendarItem, Configuration, Credentials, EWSDateTime, Version
from exchangelib.errors import ErrorCalendarInvalidRecurrence, ErrorSchemaValidation
from exchangelib.ewsdatetime import UTC
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.version import EXCHANGE_2016
from lxml import etree

from infra.sandbox.exchange.server import ExchangeSandboxUrls

pytestmark = pytest.mark.integration

START = EWSDateTime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY = datetime.date(2026, 12, 7)


@pytest.fixture
def account(sandbox: ExchangeSandboxUrls) -> Account:
    address = f"series-{uuid.uuid4().hex[:8]}@sandbox.local"
    assert httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": "Series"}).is_success
    config = Configuration(
        service_endpoint=sandbox.ews_url,
        credentials=Credentials("fieldsync-svc@sandbox.local", "sandbox-password"),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
    )
    return Account(primary_smtp_address=address, config=config, autodiscover=False, access_type=IMPERSONATION)


def series(account: Account, recurrence: Recurrence, subject: str = "Stand-up") -> CalendarItem:
    item = CalendarItem(folder=account.calendar, subject=subject, start=START,
                        end=START + datetime.timedelta(minutes=15), recurrence=recurrence)  # fmt: skip
    item.save()
    return item


RECURRENCES = [
    Recurrence(pattern=DailyPattern(interval=2), boundary=NoEndPattern(start=DAY)),
    Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1, 3, 5], first_day_of_week=7),
               boundary=NumberedPattern(start=DAY, number=12)),
    Recurrence(pattern=AbsoluteMonthlyPattern(interval=2, day_of_month=31),
               boundary=EndDatePattern(start=DAY, end=datetime.date(2027, 12, 31))),
    Recurrence(pattern=RelativeMonthlyPattern(interval=1, weekday=9, week_number=5), boundary=NoEndPattern(start=DAY)),
    Recurrence(pattern=AbsoluteYearlyPattern(day_of_month=29, month=2), boundary=NumberedPattern(start=DAY, number=3)),
    Recurrence(pattern=RelativeYearlyPattern(weekday=4, week_number=4, month=11), boundary=NoEndPattern(start=DAY)),
]  # fmt: skip


@pytest.mark.parametrize("recurrence", RECURRENCES, ids=lambda r: type(r.pattern).__name__)
def test_every_pattern_and_range_is_read_back_as_written(account: Account, recurrence: Recurrence) -> None:
    item = series(account, recurrence)
    (read,) = account.fetch(ids=[item])
    assert read.recurrence == recurrence
    assert isinstance(read.recurrence.boundary.start, datetime.date)  # a date, as Exchange answers it
    assert read.type == "RecurringMaster"
    assert (read.start, read.end) == (START, START + datetime.timedelta(minutes=15))


def test_the_pattern_is_updated_and_removed_through_update_item(account: Account) -> None:
    item = series(account, RECURRENCES[1])
    before = item.changekey
    item.recurrence = Recurrence(pattern=WeeklyPattern(interval=2, weekdays=[2], first_day_of_week=1),
                                 boundary=EndDatePattern(start=DAY, end=datetime.date(2027, 6, 30)))  # fmt: skip
    item.save(update_fields=["recurrence"])
    assert item.changekey != before
    (read,) = account.fetch(ids=[item])
    assert read.recurrence == item.recurrence and read.subject == "Stand-up"
    item.recurrence = None
    item.save(update_fields=["recurrence"])
    (single,) = account.fetch(ids=[item])
    assert single.recurrence is None and single.type == "Single"


def test_sync_items_reports_the_master_with_its_pattern(account: Account) -> None:
    assert list(account.calendar.sync_items()) == []
    item = series(account, RECURRENCES[0], subject="Synced series")
    single = CalendarItem(folder=account.calendar, subject="Once", start=START, end=START + datetime.timedelta(hours=1))
    single.save()
    found = {i.subject: (kind, i) for kind, i in account.calendar.sync_items()}
    assert found["Synced series"][0] == "create" and found["Synced series"][1].recurrence == RECURRENCES[0]
    assert found["Synced series"][1].type == "RecurringMaster" and found["Once"][1].type == "Single"
    item.recurrence = RECURRENCES[5]
    item.save(update_fields=["recurrence"])
    ((kind, changed),) = list(account.calendar.sync_items())
    assert (kind, changed.id, changed.recurrence) == ("update", item.id, RECURRENCES[5])


def _raw_create(account: Account, recurrence_xml: str) -> httpx.Response:
    """A CreateItem exchangelib would not send (it validates first): what EWS says of a bad pattern."""
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID>
<t:PrimarySmtpAddress>{account.primary_smtp_address}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>
</s:Header><s:Body><m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem>
<t:Subject>Bad</t:Subject><t:Recurrence>{recurrence_xml}</t:Recurrence>
<t:Start>2026-12-07T09:00:00Z</t:Start><t:End>2026-12-07T09:15:00Z</t:End>
</t:CalendarItem></m:Items></m:CreateItem></s:Body></s:Envelope>"""
    return httpx.post(account.protocol.service_endpoint, content=body.encode(),
                      auth=("fieldsync-svc@sandbox.local", "sandbox-password"))  # fmt: skip


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        ("<t:DailyRecurrence><t:Interval>0</t:Interval></t:DailyRecurrence>"
         "<t:NoEndRecurrence><t:StartDate>2026-12-07</t:StartDate></t:NoEndRecurrence>",
         ErrorCalendarInvalidRecurrence.__name__),
        ("<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Funday</t:DaysOfWeek></t:WeeklyRecurrence>"
         "<t:NoEndRecurrence><t:StartDate>2026-12-07</t:StartDate></t:NoEndRecurrence>",
         ErrorSchemaValidation.__name__),
        ("<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>",
         ErrorSchemaValidation.__name__),
        ("<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:EndDateRecurrence>"
         "<t:StartDate>2026-12-07</t:StartDate><t:EndDate>2026-01-01</t:EndDate></t:EndDateRecurrence>",
         ErrorCalendarInvalidRecurrence.__name__),
    ],
    ids=["interval 0", "unknown day", "no range", "ends before it starts"],
)  # fmt: skip
def test_a_bad_pattern_is_refused_and_nothing_is_stored(account: Account, xml: str, code: str) -> None:
    answer = _raw_create(account, xml)
    message = etree.fromstring(answer.content).find(".//{*}CreateItemResponseMessage")
    assert message is not None and message.get("ResponseClass") == "Error"
    assert message.findtext("{*}ResponseCode") == code
    assert account.calendar.all().count() == 0
