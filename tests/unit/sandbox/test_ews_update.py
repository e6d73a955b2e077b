"""The hand-built UpdateItem is exchangelib's request byte for byte, and every kind of answer is read right."""

from __future__ import annotations

import pytest
from exchangelib import BASIC, IMPERSONATION, UTC, Account, Configuration, Credentials, Version
from exchangelib.services import UpdateItem
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.ews_update import M_NS, SET_FIELDS, SOAP_NS, T_NS, EwsUpdateError, new_changekey, update_request
from infra.sandbox.traffic_exchange import EXCHANGE_FIELDS

VALUES = ["jobtitle 1a2b3c-000001", 'x <&> "y" \'z\'\r\n\tend', "caf\u00e9 \u2603 \U0001f600", "bell\x07 and \ufffe"]


def exchangelib_request(mailbox: str, folder: str, attribute: str, item_id: str, changekey: str, value: str) -> bytes:
    """What exchangelib 5.6 posts for item.save(update_fields=[attribute], conflict_resolution=ALWAYS_OVERWRITE)."""
    config = Configuration(service_endpoint="http://127.0.0.1:9/EWS/Exchange.asmx", credentials=Credentials("u", "p"),
                           auth_type=BASIC, version=Version(build=EXCHANGE_2016))
    account = Account(mailbox, config=config, autodiscover=False, access_type=IMPERSONATION, default_timezone=UTC)
    item = EXCHANGE_FIELDS[folder][1](account=account, id=item_id, changekey=changekey, **{attribute: value})
    service = UpdateItem(account=account)
    payload = service.get_payload(
        items=[(item, [attribute])], conflict_resolution="AlwaysOverwrite", message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone", suppress_read_receipts=True,
    )
    request: bytes = service.wrap(content=payload, api_version="Exchange2016")
    return request


def test_every_traffic_field_has_a_field_uri() -> None:
    assert set(SET_FIELDS) == {(folder, a) for folder, (_, _, fields) in EXCHANGE_FIELDS.items() for a in fields}


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize(("folder", "attribute"), sorted(SET_FIELDS))
def test_the_request_is_what_exchangelib_sends(folder: str, attribute: str, value: str) -> None:
    args = ("alice@sandbox.local", folder, attribute, "RlNYMb1ze4uO+n0I/iq==", "Q0sA&AAAAAAw==", value)
    assert update_request(*args) == exchangelib_request(*args)


def answer(message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}" xmlns:m="{M_NS}" '
            f'xmlns:t="{T_NS}"><s:Body><m:UpdateItemResponse><m:ResponseMessages>{message}'
            "</m:ResponseMessages></m:UpdateItemResponse></s:Body></s:Envelope>").encode()


def test_success_gives_the_new_changekey() -> None:
    body = answer('<m:UpdateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
                  '<m:Items><t:Task><t:ItemId Id="i" ChangeKey="CK2"/></t:Task></m:Items>'
                  "</m:UpdateItemResponseMessage>")
    assert new_changekey(200, body) == "CK2"


def test_an_error_message_raises_with_its_response_code() -> None:
    body = answer('<m:UpdateItemResponseMessage ResponseClass="Error"><m:MessageText>Not found.</m:MessageText>'
                  "<m:ResponseCode>ErrorItemNotFound</m:ResponseCode></m:UpdateItemResponseMessage>")
    with pytest.raises(EwsUpdateError) as caught:
        new_changekey(200, body)
    assert (caught.value.code, str(caught.value)) == ("ErrorItemNotFound", "ErrorItemNotFound: Not found.")


def test_a_soap_fault_raises_with_the_code_of_its_detail() -> None:
    body = (f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault><faultcode xmlns:a="urn:e">a:ErrorX</faultcode>'
            '<faultstring>Bad.</faultstring><detail><e:ResponseCode xmlns:e="urn:e">ErrorImpersonateUserDenied'
            "</e:ResponseCode><e:Message xmlns:e=\"urn:e\">Denied.</e:Message></detail></s:Fault></s:Body>"
            "</s:Envelope>").encode()
    with pytest.raises(EwsUpdateError) as caught:
        new_changekey(500, body)
    assert (caught.value.code, caught.value.message) == ("ErrorImpersonateUserDenied", "Denied.")


@pytest.mark.parametrize(("status", "body", "code"), [
    (401, b"401 Unauthorized", "HTTP 401"),
    (503, b"", "HTTP 503"),
    (502, f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body/></s:Envelope>'.encode(), "HTTP 502"),
    (200, answer(""), "ErrorInvalidResponse"),
    (200, answer('<m:UpdateItemResponseMessage ResponseClass="Success"/>'), "ErrorInvalidResponse"),
])
def test_anything_else_raises(status: int, body: bytes, code: str) -> None:
    with pytest.raises(EwsUpdateError) as caught:
        new_changekey(status, body)
    assert caught.value.code == code
