"""One EWS UpdateItem of one string field, byte for byte as exchangelib 5.6 writes it, and the reading of its answer.

The traffic generator sends hundreds of these a second; building them from a template and reading the answer
with one lxml parse costs a fraction of exchangelib's item model, XML tree and requests session in a thread.
The request matches what exchangelib sends for `item.save(update_fields=[field],
conflict_resolution=ALWAYS_OVERWRITE)` under impersonation with Version Exchange2016 (element order,
attributes, the UTC TimeZoneContext, SendMeetingInvitationsOrCancellations="SendToNone" on every item kind),
so the sandbox, which validates like EWS, and a real Exchange see the same request.
"""

from __future__ import annotations

import re

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"

# (folder attribute on exchangelib's Account, exchangelib field name) -> (item element, FieldURI).
SET_FIELDS: dict[tuple[str, str], tuple[str, str]] = {
    ("contacts", "job_title"): ("Contact", "contacts:JobTitle"),
    ("contacts", "department"): ("Contact", "contacts:Department"),
    ("contacts", "nickname"): ("Contact", "contacts:Nickname"),
    ("calendar", "location"): ("CalendarItem", "calendar:Location"),
    ("calendar", "subject"): ("CalendarItem", "item:Subject"),
    ("tasks", "subject"): ("Task", "item:Subject"),
}

_REQUEST = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    f'<s:Envelope xmlns:s="{SOAP_NS}" xmlns:m="{M_NS}" xmlns:t="{T_NS}">'
    '<s:Header><t:RequestServerVersion Version="Exchange2016"/>'
    "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress>"
    "</t:ConnectingSID></t:ExchangeImpersonation>"
    '<t:TimeZoneContext><t:TimeZoneDefinition Id="UTC"/></t:TimeZoneContext></s:Header>'
    '<s:Body><m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly" '
    'SendMeetingInvitationsOrCancellations="SendToNone" SuppressReadReceipts="true">'
    '<m:ItemChanges><t:ItemChange><t:ItemId Id="{item_id}" ChangeKey="{changekey}"/>'
    '<t:Updates><t:SetItemField><t:FieldURI FieldURI="{field_uri}"/>'
    "<t:{element}><t:{child}>{value}</t:{child}></t:{element}>"
    "</t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem></s:Body></s:Envelope>"
)
# Characters XML 1.0 cannot carry: exchangelib replaces them with "?" (util.safe_xml_value); so do we.
_ILLEGAL = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufdd0-\ufddf\ufffe\uffff]")
# The escapes lxml writes, so the bytes are exchangelib's: text escapes &, <, > and CR; attributes also quotes
# and the whitespace that attribute normalisation would otherwise turn into spaces.
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;",
                       "\t": "&#9;"})
# The generator reads answers on its one event loop thread; lxml parsers must not be shared between threads.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_RESPONSE_MESSAGE = f"{{{SOAP_NS}}}Body/{{{M_NS}}}UpdateItemResponse/{{{M_NS}}}ResponseMessages/*"


class EwsUpdateError(Exception):
    """EWS refused the update: `code` is the EWS ResponseCode (or "HTTP <status>" when there is none)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _text(value: str) -> str:
    return _ILLEGAL.sub("?", value).translate(_TEXT)


def _attr(value: str) -> str:
    return _ILLEGAL.sub("?", value).translate(_ATTR)


def update_request(mailbox: str, folder: str, attribute: str, item_id: str, changekey: str, value: str) -> bytes:
    """The SOAP envelope that sets `attribute` of the item to `value`, overwriting whatever is there."""
    element, field_uri = SET_FIELDS[(folder, attribute)]
    return _REQUEST.format(
        mailbox=_text(mailbox), item_id=_attr(item_id), changekey=_attr(changekey), field_uri=field_uri,
        element=element, child=field_uri.split(":", 1)[1], value=_text(value),
    ).encode("utf-8")


def _fault(root: etree._Element) -> EwsUpdateError | None:
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    if fault is None:
        return None
    code = fault.findtext("detail/{*}ResponseCode") or (fault.findtext("faultcode") or "").rpartition(":")[2]
    message = fault.findtext("detail/{*}Message") or fault.findtext("faultstring") or ""
    return EwsUpdateError(code or "SoapFault", message)


def new_changekey(status_code: int, body: bytes) -> str:
    """The item's ChangeKey after a successful update; EwsUpdateError for a fault, an error or an HTTP failure."""
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError:
        raise EwsUpdateError(f"HTTP {status_code}", body[:200].decode("utf-8", "replace")) from None
    fault = _fault(root)
    if fault is not None:
        raise fault
    if not 200 <= status_code < 300:
        raise EwsUpdateError(f"HTTP {status_code}", "no SOAP fault in the answer")
    message = root.find(_RESPONSE_MESSAGE)
    if message is None:
        raise EwsUpdateError("ErrorInvalidResponse", "no UpdateItemResponseMessage in the answer")
    if message.get("ResponseClass") != "Success":
        code = message.findtext(f"{{{M_NS}}}ResponseCode") or "ErrorUnknown"
        raise EwsUpdateError(code, message.findtext(f"{{{M_NS}}}MessageText") or "")
    item_id = message.find(f"{{{M_NS}}}Items/*/{{{T_NS}}}ItemId")
    changekey = item_id.get("ChangeKey") if item_id is not None else None
    if not changekey:
        raise EwsUpdateError("ErrorInvalidResponse", "the answer carries no ChangeKey")
    return str(changekey)
