"""The EWS endpoint: Basic auth of the service account, impersonation, and dispatch to the operations."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Callable

from lxml import etree

from infra.sandbox.exchange.attachment_operations import create_attachment, delete_attachment, get_attachment
from infra.sandbox.exchange.folder_operations import find_item, get_folder, sync_folder_items
from infra.sandbox.exchange.item_operations import create_item, delete_item, get_item, update_item
from infra.sandbox.exchange.operation_context import OperationContext
from infra.sandbox.exchange.soap import (
    EwsError,
    SoapFault,
    error_message,
    fault_envelope,
    parse_request,
    response_envelope,
)
from infra.sandbox.exchange.store import Store

Operation = Callable[[OperationContext, etree._Element], list[etree._Element]]

OPERATIONS: dict[str, Operation] = {
    "GetFolder": get_folder,
    "FindItem": find_item,
    "SyncFolderItems": sync_folder_items,
    "GetItem": get_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "CreateAttachment": create_attachment,
    "GetAttachment": get_attachment,
    "DeleteAttachment": delete_attachment,
}
log = logging.getLogger(__name__)
REALM = 'Basic realm="sandbox-exchange"'


def credentials_valid(header: str | None, username: str, password: str) -> bool:
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        user, _, given = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user_ok = secrets.compare_digest(user.lower().encode(), username.lower().encode())
    return secrets.compare_digest(given.encode(), password.encode()) and user_ok


def handle_soap(store: Store, payload: bytes) -> tuple[int, bytes]:
    """Answer one authenticated SOAP request: (HTTP status, envelope). Faults go out as HTTP 500, like EWS."""
    try:
        request = parse_request(payload)
        operation = OPERATIONS.get(request.operation)
        if operation is None:
            raise SoapFault(
                "ErrorInvalidOperation", f"The operation {request.operation} is not supported by the sandbox."
            )
        if request.impersonated is None:
            # The service account has no mailbox of its own: it only ever acts through impersonation.
            raise SoapFault("ErrorNonExistentMailbox", "The service account has no mailbox; use impersonation.")
        mailbox = store.mailbox(request.impersonated)
        if mailbox is None:
            raise SoapFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        context = OperationContext(store, mailbox["address"], mailbox["display_name"])
        try:
            messages = operation(context, request.body)
        except EwsError as error:
            # A request-wide problem (e.g. an unknown target folder): one error message for the operation.
            messages = [error_message(request.operation, error)]
        return 200, response_envelope(request.operation, messages)
    except SoapFault as fault:
        return 500, fault_envelope(fault)
    except Exception:
        # Never a stack trace on the wire: log it here, answer with the EWS internal error fault.
        log.exception("sandbox EWS request failed")
        return 500, fault_envelope(SoapFault("ErrorInternalServerError", "An internal server error occurred."))
