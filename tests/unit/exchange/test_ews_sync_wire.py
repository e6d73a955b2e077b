"""ews_sync's pure halves: the SyncFolderItems envelope it sends and how it reads every kind of answer."""

from __future__ import annotations

import pytest
from lxml import etree

from shared.exchange.errors import ExchangeError, InvalidCursor, NoMailbox, Transient
from shared.exchange.sync import MESSAGES, TYPES, SyncChange, parse_response, request_body

HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    f'xmlns:m="{MESSAGES}" xmlns:t="{TYPES}"><s:Body><m:SyncFolderItemsResponse><m:ResponseMessages>'
)
TAIL = "</m:ResponseMessages></m:SyncFolderItemsResponse></s:Body></s:Envelope>"


def answer(inner: str, response_class: str = "Success") -> bytes:
    return (f'{HEAD}<m:SyncFolderItemsResponseMessage ResponseClass="{response_class}">{inner}'
            f"</m:SyncFolderItemsResponseMessage>{TAIL}").encode()  # fmt: skip


def test_the_request_impersonates_the_mailbox_and_names_the_folder_and_state() -> None:
    root = etree.fromstring(request_body("o'neil&co@sandbox.local", "calendar", "state<1>", 512))
    ns = {"m": MESSAGES, "t": TYPES}
    assert root.findtext(".//t:ExchangeImpersonation//t:PrimarySmtpAddress", namespaces=ns) == "o'neil&co@sandbox.local"
    assert root.find(".//t:RequestServerVersion", namespaces=ns).get("Version") == "Exchange2016"
    folder = root.find(".//m:SyncFolderId/t:DistinguishedFolderId", namespaces=ns)
    assert folder.get("Id") == "calendar"
    assert folder.findtext("t:Mailbox/t:EmailAddress", namespaces=ns) == "o'neil&co@sandbox.local"
    assert root.findtext(".//m:SyncState", namespaces=ns) == "state<1>"
    assert root.findtext(".//m:MaxChangesReturned", namespaces=ns) == "512"
    assert root.findtext(".//t:BaseShape", namespaces=ns) == "IdOnly"


def test_a_first_sync_sends_no_state() -> None:
    assert b"SyncState" not in request_body("a@sandbox.local", "contacts", None, 10)


def test_a_page_lists_creates_updates_deletes_and_drops_read_flag_changes() -> None:
    page = parse_response(200, answer(
        "<m:ResponseCode>NoError</m:ResponseCode><m:SyncState>S2</m:SyncState>"
        "<m:IncludesLastItemInRange>false</m:IncludesLastItemInRange><m:Changes>"
        '<t:Create><t:Contact><t:ItemId Id="A" ChangeKey="ka"/></t:Contact></t:Create>'
        '<t:Update><t:CalendarItem><t:ItemId Id="B" ChangeKey="kb"/></t:CalendarItem></t:Update>'
        '<t:ReadFlagChange><t:ItemId Id="C" ChangeKey="kc"/><t:IsRead>true</t:IsRead></t:ReadFlagChange>'
        '<t:Delete><t:ItemId Id="D"/></t:Delete></m:Changes>'
    ))  # fmt: skip
    assert page.changes == (SyncChange("create", "A", "ka"), SyncChange("update", "B", "kb"),
                            SyncChange("delete", "D", None))  # fmt: skip
    assert (page.sync_state, page.complete) == ("S2", False)


def test_an_empty_last_page_is_complete() -> None:
    page = parse_response(200, answer(
        "<m:ResponseCode>NoError</m:ResponseCode><m:SyncState>S3</m:SyncState>"
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes/>"
    ))  # fmt: skip
    assert (page.changes, page.sync_state, page.complete) == ((), "S3", True)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("ErrorNonExistentMailbox", NoMailbox), ("ErrorMailboxStoreUnavailable", Transient),
     ("ErrorInvalidSyncStateData", InvalidCursor), ("ErrorInvalidPropertyRequest", ExchangeError)],
)  # fmt: skip
def test_an_error_message_raises_its_kind(code: str, kind: type[Exception]) -> None:
    with pytest.raises(kind, match=code):
        parse_response(200, answer(f"<m:MessageText>no</m:MessageText><m:ResponseCode>{code}</m:ResponseCode>"
                                   "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
                                   "Error"))  # fmt: skip


def test_server_busy_carries_its_back_off() -> None:
    body = answer(
        "<m:MessageText>busy</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode>"
        '<m:MessageXml><t:Value Name="BackOffMilliseconds">1500</t:Value></m:MessageXml>', "Error"
    )  # fmt: skip
    with pytest.raises(Transient) as caught:
        parse_response(200, body)
    assert caught.value.retry_after == 1.5


def test_a_soap_fault_raises_the_code_in_its_detail() -> None:
    fault = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        '<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorNonExistentMailbox'
        "</faultcode><faultstring>No mailbox.</faultstring><detail>"
        '<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorNonExistentMailbox'
        "</e:ResponseCode></detail></s:Fault></s:Body></s:Envelope>"
    )
    with pytest.raises(NoMailbox, match="No mailbox"):
        parse_response(500, fault.encode())


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b"not xml at all", b""])
def test_anything_else_is_an_error_never_a_page(body: bytes) -> None:
    with pytest.raises(ExchangeError):
        parse_response(502, body)
