"""File attachments through exchangelib against the Exchange sandbox: CreateAttachment, GetItem's Attachments,
GetAttachment (plain and streamed), DeleteAttachment, ChangeKeys, SyncFolderItems, errors and impersonation."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import httpx
import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone, FileAttachment, ItemAttachment, Message
from exchangelib.attachments import AttachmentId
from exchangelib.errors import ErrorInvalidAttachmentId, ErrorItemNotFound, ErrorUnsupportedTypeForConversion
from exchangelib.services import DeleteAttachment, GetAttachment
from lxml import etree

from infra.sandbox.exchange.attachment_operations import MAX_ATTACHMENT_BYTES, file_of
from infra.sandbox.exchange.server import ExchangeSandboxUrls
from infra.sandbox.exchange.soap import EwsError, t
from tests.integration.sandbox.test_exchange_items import account  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration
BINARY = bytes(range(256)) * 4


def appointment(account: Account) -> CalendarItem:  # noqa: F811
    start = EWSDateTime(2030, 5, 6, 9, tzinfo=EWSTimeZone("UTC"))
    item = CalendarItem(account=account, folder=account.calendar, subject=f"Files {uuid.uuid4().hex[:6]}",
                        start=start, end=start + timedelta(hours=1))  # fmt: skip
    item.save()
    return item


def test_a_file_round_trips_and_changes_the_items_changekey(account: Account) -> None:  # noqa: F811
    item = appointment(account)
    before = item.changekey
    item.attach(FileAttachment(name="data.bin", content_type="application/octet-stream", content=BINARY))
    assert item.changekey != before  # CreateAttachment answered with the item's new ChangeKey
    [fetched] = list(account.fetch(ids=[item], folder=account.calendar, only_fields=["attachments", "has_attachments"]))
    assert fetched.has_attachments is True and fetched.changekey == item.changekey
    [file] = fetched.attachments
    assert (file.name, file.content_type, file.size) == ("data.bin", "application/octet-stream", len(BINARY))
    assert file.content == BINARY  # streamed GetAttachment (FileAttachmentIO)
    plain = GetAttachment(account=account).get(items=[file.attachment_id], include_mime_content=False,
                                               body_type=None, filter_html_content=None, additional_fields=None)
    assert plain.content == BINARY and plain.name == "data.bin"

    root = DeleteAttachment(account=account).get(items=[AttachmentId(id=file.attachment_id.id)])
    assert root.id == item.id and root.changekey not in (before, item.changekey)
    [after] = list(account.fetch(ids=[item], folder=account.calendar, only_fields=["attachments", "has_attachments"]))
    assert after.attachments == [] and after.has_attachments is False and after.changekey == root.changekey


def test_sync_reports_the_item_updated_after_each_file_change(account: Account) -> None:  # noqa: F811
    item = appointment(account)
    list(account.calendar.sync_items(only_fields=["subject"]))  # up to now
    state = account.calendar.item_sync_state
    item.attach(FileAttachment(name="a.txt", content=b"a"))
    changes = list(account.calendar.sync_items(sync_state=state, only_fields=["subject"]))
    assert [(kind, getattr(thing, "id", None)) for kind, thing in changes] == [("update", item.id)]
    state = account.calendar.item_sync_state
    item.attachments[0].detach()
    changes = list(account.calendar.sync_items(sync_state=state, only_fields=["subject"]))
    assert [(kind, getattr(thing, "id", None)) for kind, thing in changes] == [("update", item.id)]


def test_errors_and_isolation(account: Account, sandbox: ExchangeSandboxUrls) -> None:  # noqa: F811
    item = appointment(account)
    item.attach(FileAttachment(name="secret.txt", content=b"mine"))
    attachment_id = item.attachments[0].attachment_id
    other = account.__class__(primary_smtp_address=_other_mailbox(sandbox), config=account.protocol.config,
                              autodiscover=False, access_type=account.access_type)  # fmt: skip
    with pytest.raises(ErrorInvalidAttachmentId):  # another mailbox cannot read it ...
        GetAttachment(account=other).get(items=[attachment_id], include_mime_content=False, body_type=None,
                                         filter_html_content=None, additional_fields=None)  # fmt: skip
    with pytest.raises(ErrorInvalidAttachmentId):  # ... nor delete it
        DeleteAttachment(account=other).get(items=[AttachmentId(id=attachment_id.id)])
    with pytest.raises(ErrorItemNotFound):  # nor attach to an item not in it
        FileAttachment(name="x", content=b"x", parent_item=CalendarItem(account=other, id=item.id,
                                                                          changekey=item.changekey)).attach()
    with pytest.raises(ErrorUnsupportedTypeForConversion):
        item.attach(ItemAttachment(name="mail", item=Message(subject="attached")))
    item.delete()  # the item's files go with it
    with pytest.raises(ErrorInvalidAttachmentId):
        GetAttachment(account=account).get(items=[attachment_id], include_mime_content=False, body_type=None,
                                           filter_html_content=None, additional_fields=None)  # fmt: skip


def test_a_file_over_the_limit_is_refused() -> None:



    element = etree.Element(t("FileAttachment"))
    etree.SubElement(element, t("Name")).text = "big.iso"
    etree.SubElement(element, t("Content")).text = base64.b64encode(b"x" * (MAX_ATTACHMENT_BYTES + 1)).decode()
    with pytest.raises(EwsError) as refused:
        file_of(element)
    assert refused.value.code == "ErrorAttachmentSizeLimitExceeded"


def _other_mailbox(sandbox: ExchangeSandboxUrls) -> str:
    address = f"other-{uuid.uuid4().hex[:8]}@sandbox.local"
    assert httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": "Other"}).is_success
    return address
