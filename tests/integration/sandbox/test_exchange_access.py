"""The Exchange sandbox's doors: mailbox admin endpoints, Basic auth, impersonation, and bad requests."""

from __future__ import annotations

import uuid

import httpx
import pytest
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Contact, Credentials, Version
from exchangelib.errors import ErrorNonExistentMailbox, UnauthorizedError
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.exchange.server import ExchangeSandboxUrls

pytestmark = pytest.mark.integration

SERVICE_ACCOUNT = "fieldsync-svc@sandbox.local"
SOAP_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
)


def new_mailbox(sandbox: ExchangeSandboxUrls, name: str) -> str:
    address = f"{name}-{uuid.uuid4().hex[:8]}@sandbox.local"
    response = httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": name.title()})
    assert response.status_code == 201, response.text
    return address


def account(sandbox: ExchangeSandboxUrls, mailbox: str, password: str = "sandbox-password") -> Account:
    config = Configuration(
        service_endpoint=sandbox.ews_url,
        credentials=Credentials(SERVICE_ACCOUNT, password),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
    )
    return Account(primary_smtp_address=mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)


def soap(body: str, impersonate: str | None = None) -> str:
    header = ""
    if impersonate:
        header = (
            "<s:Header><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>"
            f"{impersonate}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header>"
        )
    return f"{SOAP_HEAD}{header}<s:Body>{body}</s:Body></s:Envelope>"


def post_soap(sandbox: ExchangeSandboxUrls, envelope: str, auth: tuple[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        sandbox.ews_url,
        content=envelope.encode(),
        auth=auth or (SERVICE_ACCOUNT, "sandbox-password"),
        headers={"Content-Type": "text/xml; charset=utf-8"},
    )


def test_mailbox_creation_is_idempotent_and_listed(sandbox: ExchangeSandboxUrls) -> None:
    address = f"carol-{uuid.uuid4().hex[:8]}@sandbox.local"
    first = httpx.post(sandbox.mailboxes_url, json={"address": address.upper(), "display_name": "Carol"})
    again = httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": "Other"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"address": address, "display_name": "Carol"}
    listed = httpx.get(sandbox.mailboxes_url).json()
    assert {"address": address, "display_name": "Carol"} in listed


def test_bad_mailbox_input_is_refused_with_4xx(sandbox: ExchangeSandboxUrls) -> None:
    for body in ({"address": "no-at-sign", "display_name": "X"}, {"address": "a@b.c"}, [1]):
        response = httpx.post(sandbox.mailboxes_url, json=body)
        assert response.status_code == 422, body


def test_impersonation_separates_mailboxes(sandbox: ExchangeSandboxUrls) -> None:
    alice, bob = new_mailbox(sandbox, "alice"), new_mailbox(sandbox, "bob")
    as_alice, as_bob = account(sandbox, alice), account(sandbox, bob)
    Contact(folder=as_alice.contacts, display_name="Only Alice's", given_name="A").save()
    Contact(folder=as_bob.contacts, display_name="Only Bob's", given_name="B").save()
    assert [c.display_name for c in as_alice.contacts.all()] == ["Only Alice's"]
    assert [c.display_name for c in as_bob.contacts.all()] == ["Only Bob's"]
    assert as_alice.contacts.id != as_bob.contacts.id


def test_impersonating_an_unknown_mailbox_raises_non_existent_mailbox(sandbox: ExchangeSandboxUrls) -> None:
    ghost = account(sandbox, f"ghost-{uuid.uuid4().hex[:8]}@sandbox.local")
    with pytest.raises(ErrorNonExistentMailbox):
        _ = ghost.contacts


def test_wrong_password_raises_unauthorized(sandbox: ExchangeSandboxUrls) -> None:
    intruder = account(sandbox, new_mailbox(sandbox, "dave"), password="wrong-password")
    with pytest.raises(UnauthorizedError):
        _ = intruder.contacts


def test_http_401_carries_a_basic_challenge(sandbox: ExchangeSandboxUrls) -> None:
    response = post_soap(sandbox, soap("<m:GetFolder/>"), auth=("someone@sandbox.local", "sandbox-password"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert httpx.post(sandbox.ews_url, content=b"<x/>").status_code == 401


def test_bad_soap_is_a_fault_not_a_stack_trace(sandbox: ExchangeSandboxUrls) -> None:
    mailbox = new_mailbox(sandbox, "erin")
    cases = {
        "<not xml": "ErrorSchemaValidation",
        soap("<m:GetUserAvailabilityRequest/>", mailbox): "ErrorInvalidOperation",
        soap("<m:GetFolder/>"): "ErrorNonExistentMailbox",
    }
    for envelope, code in cases.items():
        response = post_soap(sandbox, envelope)
        assert response.status_code == 500, envelope
        assert "<faultcode" in response.text and code in response.text, response.text


def test_unknown_item_ids_are_per_message_errors(sandbox: ExchangeSandboxUrls) -> None:
    mailbox = new_mailbox(sandbox, "frank")
    body = (
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds>"
        '<t:ItemId Id="not-base64!"/><t:ItemId Id="RlNYMQAAAAAAAAAAAAAAAAAAAAA="/></m:ItemIds></m:GetItem>'
    )
    response = post_soap(sandbox, soap(body, mailbox))
    assert response.status_code == 200
    assert "ErrorInvalidIdMalformed" in response.text and "ErrorItemNotFound" in response.text
    assert 'MajorVersion="15"' in response.text


def test_fault_knobs_are_mounted(sandbox: ExchangeSandboxUrls) -> None:
    knobs = httpx.get(sandbox.faults_url)
    assert knobs.status_code == 200
    assert knobs.json()["throttle_ratio"] == 0.0


def test_bad_operation_input_is_an_ews_error_and_changes_nothing(sandbox: ExchangeSandboxUrls) -> None:
    mailbox = new_mailbox(sandbox, "gina")
    cases = {
        '<m:CreateItem><m:SavedItemFolderId><t:FolderId Id="bogus"/></m:SavedItemFolderId>'
        "<m:Items><t:Contact><t:GivenName>X</t:GivenName></t:Contact></m:Items></m:CreateItem>": (
            "ErrorInvalidIdMalformed"
        ),
        '<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId>'
        "<m:Items><t:Contact><t:GivenName>X</t:GivenName></t:Contact></m:Items></m:CreateItem>": (
            "ErrorCannotCreateContactInNonContactFolder"
        ),
        "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId>"
        '<t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId><m:MaxChangesReturned>0</m:MaxChangesReturned>'
        "</m:SyncFolderItems>": "ErrorInvalidOperation",
        '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
        "<m:Restriction><t:Excludes/></m:Restriction><m:ParentFolderIds>"
        '<t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>': "ErrorUnsupportedQueryFilter",
    }
    for body, code in cases.items():
        response = post_soap(sandbox, soap(body, mailbox))
        assert response.status_code == 200, response.text
        assert 'ResponseClass="Error"' in response.text and code in response.text, response.text
    assert list(account(sandbox, mailbox).contacts.all()) == []
