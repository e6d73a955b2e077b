"""EWS file attachments: CreateAttachment, GetAttachment, DeleteAttachment, and an item's Attachments in GetItem.

As Exchange does: an attachment id names its item (here the item's id bytes are inside it), adding or deleting a
file gives the item a new ChangeKey and reports it updated to SyncFolderItems, and the answers carry the item's
id and new ChangeKey (RootItemId, RootItemChangeKey). Only file attachments are served; an item attachment (an
attached message) is refused with the EWS error for an operation the server does not support.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable

from lxml import etree

from infra.sandbox.exchange.item_view import Shape
from infra.sandbox.exchange.operation_context import ITEM_NOT_FOUND, OperationContext, check_item_id
from infra.sandbox.exchange.soap import EwsError, error_message, m, success_message, t
from infra.sandbox.exchange.store import AttachmentRecord

# Exchange's default limit on a message with its attachments (MaxReceiveSize/MaxSendSize, 25 MiB here).
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
_PREFIX = b"FSA1"
ATTACHMENT_NOT_FOUND = EwsError("ErrorInvalidAttachmentId", "The attachment ID is not valid.")


def _attachment_id(item_id: str) -> str:
    return base64.b64encode(_PREFIX + base64.b64decode(item_id) + uuid.uuid4().bytes).decode()


def _check_attachment_id(value: str | None) -> str:
    try:
        raw = base64.b64decode(value or "", validate=True)
    except (ValueError, binascii.Error) as exc:
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.") from exc
    if not raw.startswith(_PREFIX) or len(raw) != 40:
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
    return str(value)


def _id_element(parent: etree._Element, attachment_id: str, root_id: str | None = None,
                root_changekey: str | None = None) -> None:  # fmt: skip
    attributes = {"Id": attachment_id}
    if root_id and root_changekey:
        attributes |= {"RootItemId": root_id, "RootItemChangeKey": root_changekey}
    etree.SubElement(parent, t("AttachmentId"), **attributes)


def _file_element(parent: etree._Element, file: AttachmentRecord) -> etree._Element:
    """A FileAttachment element with the file's id and metadata (the content is GetAttachment's to add)."""
    element = etree.SubElement(parent, t("FileAttachment"))
    _id_element(element, file.id)
    etree.SubElement(element, t("Name")).text = file.name
    etree.SubElement(element, t("ContentType")).text = file.content_type
    etree.SubElement(element, t("Size")).text = str(file.size)
    etree.SubElement(element, t("LastModifiedTime")).text = file.modified
    etree.SubElement(element, t("IsInline")).text = "false"
    return element


def render_attachments(item: etree._Element, files: list[AttachmentRecord], shape: Shape) -> None:
    """An item's HasAttachments and Attachments (no content: GetAttachment reads that), as the shape asks."""
    if shape.everything or "HasAttachments" in shape.names:
        etree.SubElement(item, t("HasAttachments")).text = "true" if files else "false"
    if files and (shape.everything or "Attachments" in shape.names):
        container = etree.SubElement(item, t("Attachments"))
        for file in files:
            _file_element(container, file)


def file_of(element: etree._Element) -> tuple[str, str, bytes]:
    kind = etree.QName(element).localname
    if kind != "FileAttachment":
        raise EwsError("ErrorUnsupportedTypeForConversion", f"The sandbox serves file attachments only, not {kind}.")
    name = (element.findtext(t("Name")) or "").strip()
    if not name:
        raise EwsError("ErrorInvalidPropertyRequest", "A file attachment needs a Name.")
    try:
        content = base64.b64decode(element.findtext(t("Content")) or "", validate=True)
    except (ValueError, binascii.Error) as exc:
        raise EwsError("ErrorInvalidPropertyRequest", "The attachment Content is not base64.") from exc
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise EwsError("ErrorAttachmentSizeLimitExceeded",
                       f"The attachment is {len(content)} bytes; the limit is {MAX_ATTACHMENT_BYTES}.")  # fmt: skip
    return name, element.findtext(t("ContentType")) or "application/octet-stream", content


def create_attachment(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    parent = request.find(m("ParentItemId"))
    item_id = check_item_id(parent.get("Id") if parent is not None else None)
    messages = []
    files = request.find(m("Attachments"))
    for element in files if files is not None else ():
        if not isinstance(element.tag, str):
            continue
        try:
            name, content_type, content = file_of(element)
            attachment_id = _attachment_id(item_id)
            record = ctx.store.attach(ctx.mailbox, item_id, attachment_id, name, content_type, content)
            if record is None:
                raise ITEM_NOT_FOUND
            message = success_message("CreateAttachment")
            made = etree.SubElement(etree.SubElement(message, m("Attachments")), t("FileAttachment"))
            _id_element(made, attachment_id, record.id, record.change_key)
        except EwsError as error:
            message = error_message("CreateAttachment", error)
        messages.append(message)
    return messages


Answer = Callable[[OperationContext, str], etree._Element]  # attachment id -> its success message


def _per_attachment_id(ctx: OperationContext, request: etree._Element, operation: str,
                       answer: Answer) -> list[etree._Element]:  # fmt: skip
    """One response message per AttachmentId of the request, an error message for each that fails."""
    messages = []
    ids = request.find(m("AttachmentIds"))
    for ref in ids if ids is not None else ():
        if not isinstance(ref.tag, str):
            continue
        try:
            messages.append(answer(ctx, _check_attachment_id(ref.get("Id"))))
        except EwsError as error:
            messages.append(error_message(operation, error))
    return messages


def _got(ctx: OperationContext, attachment_id: str) -> etree._Element:
    file = ctx.store.attachment(ctx.mailbox, attachment_id)
    if file is None:
        raise ATTACHMENT_NOT_FOUND
    message = success_message("GetAttachment")
    element = _file_element(etree.SubElement(message, m("Attachments")), file)
    etree.SubElement(element, t("Content")).text = base64.b64encode(file.content or b"").decode()
    return message


def _deleted(ctx: OperationContext, attachment_id: str) -> etree._Element:
    record = ctx.store.detach(ctx.mailbox, attachment_id)
    if record is None:
        raise ATTACHMENT_NOT_FOUND
    message = success_message("DeleteAttachment")
    etree.SubElement(message, m("RootItemId"), RootItemId=record.id, RootItemChangeKey=record.change_key)
    return message


def get_attachment(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    return _per_attachment_id(ctx, request, "GetAttachment", _got)


def delete_attachment(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    return _per_attachment_id(ctx, request, "DeleteAttachment", _deleted)
