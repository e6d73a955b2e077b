"""What every EWS operation handler gets: the store and the impersonated mailbox."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from lxml import etree

from infra.sandbox.exchange.soap import EwsError, m
from infra.sandbox.exchange.store import Store


@dataclass(frozen=True)
class OperationContext:
    store: Store
    mailbox: str
    display_name: str


def items_container(message: etree._Element) -> etree._Element:
    return etree.SubElement(message, m("Items"))


def check_item_id(value: str | None) -> str:
    """Item ids are opaque to clients, but a value we never issued is malformed, not missing."""
    if not value:
        raise EwsError("ErrorInvalidIdEmpty", "The EWS Id is empty.")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.") from exc
    if not raw.startswith(b"FSX1") or len(raw) != 20:
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
    return value


ITEM_NOT_FOUND = EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
