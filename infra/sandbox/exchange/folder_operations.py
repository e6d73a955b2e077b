"""EWS folder-level operations: GetFolder, FindItem and SyncFolderItems."""

from __future__ import annotations

from lxml import etree

from infra.sandbox.exchange.folders import folder_id, render_folder, resolve_folder
from infra.sandbox.exchange.item_view import parse_shape, render_item
from infra.sandbox.exchange.operation_context import OperationContext
from infra.sandbox.exchange.restriction import matches, validate
from infra.sandbox.exchange.soap import EwsError, error_message, m, success_message, t
from infra.sandbox.exchange.sync_window import (
    DELETE,
    INVALID_STATE_TEXT,
    InvalidSyncState,
    decode_state,
    encode_state,
    plan_window,
)

MAX_SYNC_CHANGES = 512  # the EWS limit for MaxChangesReturned


def _children(elem: etree._Element | None) -> list[etree._Element]:
    return [child for child in elem if isinstance(child.tag, str)] if elem is not None else []


def get_folder(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    messages = []
    for ref in _children(request.find(m("FolderIds"))):
        try:
            name = resolve_folder(ref, ctx.mailbox)
            message = success_message("GetFolder")
            folders = etree.SubElement(message, m("Folders"))
            folders.append(render_folder(ctx.mailbox, name, ctx.store.count_items(ctx.mailbox, name)))
        except EwsError as error:
            message = error_message("GetFolder", error)
        messages.append(message)
    return messages


def find_item(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    shape = parse_shape(request.find(m("ItemShape")))
    restriction = request.find(m("Restriction"))
    view = request.find(m("IndexedPageItemView"))
    try:
        offset = int(view.get("Offset", "0")) if view is not None else 0
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
    except ValueError:
        offset, limit = -1, -1
    messages = []
    for ref in _children(request.find(m("ParentFolderIds"))):
        try:
            if offset < 0 or limit <= 0:
                raise EwsError("ErrorInvalidIndexedPagingParameters", "Invalid paging parameters.")
            name = resolve_folder(ref, ctx.mailbox)
            if restriction is not None:
                validate(restriction)
            records = ctx.store.find_items(ctx.mailbox, name)
            if restriction is not None:
                records = [record for record in records if matches(restriction, record.fields)]
            page = records[offset : offset + limit]
            message = success_message("FindItem")
            root = etree.SubElement(
                message,
                m("RootFolder"),
                IndexedPagingOffset=str(offset + len(page)),
                TotalItemsInView=str(len(records)),
                IncludesLastItemInRange="true" if offset + len(page) >= len(records) else "false",
            )
            items = etree.SubElement(root, t("Items"))
            parent = folder_id(ctx.mailbox, name)
            items.extend(render_item(record, parent, shape) for record in page)
        except EwsError as error:
            message = error_message("FindItem", error)
        messages.append(message)
    return messages


def sync_folder_items(ctx: OperationContext, request: etree._Element) -> list[etree._Element]:
    try:
        refs = _children(request.find(m("SyncFolderId")))
        if not refs:
            raise EwsError("ErrorInvalidOperation", "SyncFolderItems needs a SyncFolderId.")
        name = resolve_folder(refs[0], ctx.mailbox)
        folder = folder_id(ctx.mailbox, name)
        generation = ctx.store.sync_generation()
        since = decode_state(request.findtext(m("SyncState")), folder, generation)
        try:
            wanted = int(request.findtext(m("MaxChangesReturned")) or "100")
        except ValueError:
            wanted = 0
        if not 1 <= wanted <= MAX_SYNC_CHANGES:
            raise EwsError("ErrorInvalidOperation", f"MaxChangesReturned must be between 1 and {MAX_SYNC_CHANGES}.")
        ignored = {ref.get("Id") for ref in _children(request.find(m("Ignore")))}
        shape = parse_shape(request.find(m("ItemShape")))
        fetch = wanted * 8 + 64
        log = ctx.store.changes_after(ctx.mailbox, name, since, fetch)
        window = plan_window(log, since, wanted, log_exhausted=len(log) < fetch)
        records = ctx.store.items_by_id(ctx.mailbox, [item_id for kind, item_id in window.changes if kind != DELETE])
        message = success_message("SyncFolderItems")
        etree.SubElement(message, m("SyncState")).text = encode_state(folder, window.last_seq, generation)
        etree.SubElement(message, m("IncludesLastItemInRange")).text = "true" if window.complete else "false"
        changes = etree.SubElement(message, m("Changes"))
        for kind, item_id in window.changes:
            if item_id in ignored:
                continue
            if kind == DELETE:
                etree.SubElement(etree.SubElement(changes, t("Delete")), t("ItemId"), Id=item_id)
            elif item_id in records:  # deleted after this window: its Delete comes in a later window
                change = etree.SubElement(changes, t(kind.capitalize()))
                change.append(render_item(records[item_id], folder, shape))
        return [message]
    except InvalidSyncState:  # forged, foreign or expired: the documented answer, whatever the reason
        return [_sync_error(EwsError("ErrorInvalidSyncStateData", INVALID_STATE_TEXT))]
    except EwsError as error:
        return [_sync_error(error)]


def _sync_error(error: EwsError) -> etree._Element:
    # Exchange keeps the (empty) sync elements in error messages; exchangelib reads them before the code.
    message = error_message("SyncFolderItems", error)
    etree.SubElement(message, m("SyncState"))
    etree.SubElement(message, m("IncludesLastItemInRange")).text = "true"
    return message
