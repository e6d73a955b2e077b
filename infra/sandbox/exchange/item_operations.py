"""EWS item operations: GetItem, CreateItem, UpdateItem, DeleteItem."""

from __future__ import annotations

import copy
import uuid

from lxml import etree

from infra.sandbox.exchange.attachment_operations import render_attachments
from infra.sandbox.exchange.folders import FOLDERS, folder_id, resolve_folder
from infra.sandbox.exchange.item_codec import ITEM_CLASSES, Fields, delete_field, empty_fields, merge_item_element
from infra.sandbox.exchange.item_view import parse_shape, render_item
from infra.sandbox.exchange.operation_context import (
    ITEM_NOT_FOUND,
    OperationContext,
    check_item_id,
    items_container,
)
from infra.sandbox.exchange.recurrence import calendar_item_type
from infra.sandbox.exchange.soap import EwsError, error_message, m, success_message, t
from infra.sandbox.exchange.store import ItemRecord, ews_now

_DEFAULT_FOLDER = {spec.item_type: spec.name for spec in FOLDERS.values() if spec.item_type}
_WRONG_FOLDER = {
    "Contact": "ErrorCannotCreateContactInNonContactFolder",
    "CalendarItem": "ErrorCannotCreateCalendarItemInNonCalendarFolder",
    "Task": "ErrorCannotCreateTaskInNonTaskFolder",
}


def _text(fields: Fields, name: str) -> str | None:
    raw = fields["simple"].get(name)
    return None if raw is None else etree.fromstring(raw).text


def _set_text(fields: Fields, name: str, value: str) -> None:
    element = etree.Element(t(name))
    element.text = value
    fields["simple"][name] = etree.tostring(element, encoding="unicode")


def _server_values(ctx: OperationContext, item_type: str, fields: Fields) -> Fields:
    """Values Exchange derives itself: the organizer, UID and type (single or series master) of appointments, the
    completion of tasks."""
    if item_type == "CalendarItem":
        if "Organizer" not in fields["simple"]:
            organizer = etree.Element(t("Organizer"))
            mailbox = etree.SubElement(organizer, t("Mailbox"))
            etree.SubElement(mailbox, t("Name")).text = ctx.display_name
            etree.SubElement(mailbox, t("EmailAddress")).text = ctx.mailbox
            etree.SubElement(mailbox, t("RoutingType")).text = "SMTP"
            fields["simple"]["Organizer"] = etree.tostring(organizer, encoding="unicode")
        if "UID" not in fields["simple"]:
            _set_text(fields, "UID", uuid.uuid4().hex.upper())
        _set_text(fields, "CalendarItemType", calendar_item_type("Recurrence" in fields["simple"]))
    if item_type == "Task":
        if _text(fields, "Status") == "Completed":
            _set_text(fields, "PercentComplete", "100")
            if "CompleteDate" not in fields["simple"]:
                _set_text(fields, "CompleteDate", ews_now())
        else:
            fields["simple"].pop("CompleteDate", None)
    return fields


def _id_only(record: ItemRecord) -> etree._Element:
    item = etree.Element(t(record.item_type))
    etree.SubElement(item, t("ItemId"), Id=record.id, ChangeKey=record.change_key)
    return item


def get_item(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    shape = parse_shape(request.find(m("ItemShape")))
    messages = []
    for ref in request.find(m("ItemIds")) if request.find(m("ItemIds")) is not None else ():
        try:
            record = ctx.store.get_item(ctx.mailbox, check_item_id(ref.get("Id")))
            if record is None:
                raise ITEM_NOT_FOUND
            message = success_message("GetItem")
            element = render_item(record, folder_id(ctx.mailbox, record.folder), shape)
            render_attachments(element, ctx.store.attachments_of(record.id), shape)
            items_container(message).append(element)
        except EwsError as error:
            message = error_message("GetItem", error)
        messages.append(message)
    return messages


def create_item(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    target = request.find(m("SavedItemFolderId"))
    chosen = resolve_folder(target[0], ctx.mailbox) if target is not None and len(target) else None
    messages = []
    items = request.find(m("Items"))
    for item in items if items is not None else ():
        if not isinstance(item.tag, str):
            continue
        try:
            item_type = etree.QName(item).localname
            if item_type not in ITEM_CLASSES:
                raise EwsError("ErrorInvalidOperation", f"Items of type {item_type} are not supported here.")
            folder = chosen or _DEFAULT_FOLDER[item_type]
            if FOLDERS[folder].item_type != item_type:
                code = _WRONG_FOLDER.get(item_type, "ErrorInvalidOperation")
                raise EwsError(code, f"An item of type {item_type} cannot be created in folder {folder}.")
            fields = _server_values(ctx, item_type, merge_item_element(empty_fields(), item))
            record = ctx.store.create_item(ctx.mailbox, folder, item_type, fields)
            message = success_message("CreateItem")
            items_container(message).append(_id_only(record))
        except EwsError as error:
            message = error_message("CreateItem", error)
        messages.append(message)
    return messages


def _apply_updates(ctx: OperationContext, record: ItemRecord, updates: etree._Element) -> Fields:
    fields = copy.deepcopy(record.fields)
    for update in updates:
        if not isinstance(update.tag, str):
            continue
        kind = etree.QName(update).localname
        paths = [child for child in update if isinstance(child.tag, str)]
        if not paths:
            raise EwsError("ErrorSchemaValidation", f"{kind} without a property path.")
        if kind == "DeleteItemField":
            delete_field(fields, paths[0])
        elif kind in ("SetItemField", "AppendToItemField"):
            if len(paths) < 2:
                raise EwsError("ErrorSchemaValidation", f"{kind} without a value.")
            merge_item_element(fields, paths[1])
        else:
            raise EwsError("ErrorInvalidOperation", f"Unsupported update {kind}.")
    return _server_values(ctx, record.item_type, fields)


def update_item(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    resolution = request.get("ConflictResolution", "AutoResolve")
    messages = []
    changes = request.find(m("ItemChanges"))
    for change in changes if changes is not None else ():
        try:
            ref = change.find(t("ItemId"))
            if ref is None:
                raise EwsError("ErrorInvalidIdEmpty", "The ItemChange has no ItemId.")
            expected = ref.get("ChangeKey")
            updates = change.find(t("Updates"))

            def apply(
                current: ItemRecord, expected: str | None = expected, updates: etree._Element | None = updates
            ) -> Fields:
                # A stale ChangeKey means someone else changed the item since the client read it.
                if expected and expected != current.change_key and resolution != "AlwaysOverwrite":
                    raise EwsError(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the change key passed in "
                        "the request does not match the current change key for the item.",
                    )
                return _apply_updates(ctx, current, updates if updates is not None else etree.Element("x"))

            record = ctx.store.update_item(ctx.mailbox, check_item_id(ref.get("Id")), apply)
            if record is None:
                raise ITEM_NOT_FOUND
            message = success_message("UpdateItem")
            items_container(message).append(_id_only(record))
            conflicts = etree.SubElement(message, m("ConflictResults"))
            etree.SubElement(conflicts, t("Count")).text = "0"
        except EwsError as error:
            message = error_message("UpdateItem", error)
        messages.append(message)
    return messages


def delete_item(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    messages = []
    refs = request.find(m("ItemIds"))
    for ref in refs if refs is not None else ():
        try:
            if not ctx.store.delete_item(ctx.mailbox, check_item_id(ref.get("Id"))):
                raise ITEM_NOT_FOUND
            message = success_message("DeleteItem")
        except EwsError as error:
            message = error_message("DeleteItem", error)
        messages.append(message)
    return messages
