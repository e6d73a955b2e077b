"""SyncFolderItems for ids and ChangeKeys only, as one hand-built EWS request: the capture's poll of each folder.

The capture asks every watched folder of every mailbox for its changes every second. Through exchangelib that
request went through generic service machinery in a worker thread, about 2 ms of CPU each (py-spy under the
benchmark), most of the capture's idle cost. The request is small and fixed, so it is written here: the envelope
exchangelib sends (Exchange2016, ExchangeImpersonation, X-AnchorMailbox), the folder named by its distinguished
id in the impersonated mailbox, sent with httpx on the event loop and read with lxml. The sync state is the
server's opaque string, the same whichever client asked. Failures map onto shared.exchange.errors:
HTTP 429/503 and lost connections are Transient (with Retry-After), the response codes as exchangelib's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

import httpx
from lxml import etree

from shared.exchange.errors import ExchangeError, Transient, from_response_code

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"  # a fault's detail
KINDS = {"Create": "create", "Update": "update", "Delete": "delete"}  # ReadFlagChange is not a change of ours
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class SyncChange:
    kind: str  # create, update, delete (read-flag changes are dropped)
    exchange_id: str
    changekey: str | None


@dataclass(frozen=True)
class SyncPage:
    changes: tuple[SyncChange, ...]
    sync_state: str
    complete: bool  # IncludesLastItemInRange


def request_body(mailbox: str, folder: str, sync_state: str | None, max_changes: int) -> bytes:
    """The SOAP envelope of one SyncFolderItems call, ids only, as the impersonated `mailbox`."""
    who = escape(mailbox)
    state = f"<m:SyncState>{escape(sync_state)}</m:SyncState>" if sync_state else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:m="{MESSAGES}" xmlns:t="{TYPES}"><s:Header>'
        '<t:RequestServerVersion Version="Exchange2016"/>'
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{who}</t:PrimarySmtpAddress>"
        "</t:ConnectingSID></t:ExchangeImpersonation></s:Header><s:Body><m:SyncFolderItems>"
        "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        f'<m:SyncFolderId><t:DistinguishedFolderId Id="{escape(folder)}"><t:Mailbox>'
        f"<t:EmailAddress>{who}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:SyncFolderId>"
        f"{state}<m:MaxChangesReturned>{int(max_changes)}</m:MaxChangesReturned>"
        "</m:SyncFolderItems></s:Body></s:Envelope>"
    ).encode()


def _back_off_s(message: etree._Element) -> float | None:
    """ErrorServerBusy carries its wait in MessageXml as BackOffMilliseconds."""
    for value in message.iter(f"{{{TYPES}}}Value"):
        if value.get("Name") == "BackOffMilliseconds" and (value.text or "").strip().isdigit():
            return int((value.text or "0").strip()) / 1000
    return None


def parse_response(status: int, body: bytes) -> SyncPage:
    """A SyncFolderItems answer -> the page, or the error it says (raised). Pure: no I/O."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ExchangeError(f"SyncFolderItems: HTTP {status}, not XML: {body[:200]!r}") from exc
    fault = root.find(f".//{{{SOAP}}}Fault")
    if fault is not None:
        code = fault.findtext(f".//{{{ERRORS}}}ResponseCode") or fault.findtext("faultcode") or "SOAP fault"
        raise from_response_code(code.split(":")[-1], (fault.findtext("faultstring") or "").strip())
    message = root.find(f".//{{{MESSAGES}}}SyncFolderItemsResponseMessage")
    if message is None:
        raise ExchangeError(f"SyncFolderItems: HTTP {status}, no response message")
    if message.get("ResponseClass") == "Error":
        code = message.findtext(f"{{{MESSAGES}}}ResponseCode") or "Error"
        raise from_response_code(code, message.findtext(f"{{{MESSAGES}}}MessageText") or "", _back_off_s(message))
    changes = []
    listed = message.find(f"{{{MESSAGES}}}Changes")
    for change in () if listed is None else listed:
        kind = KINDS.get(etree.QName(change).localname)
        item_id = change.find(f".//{{{TYPES}}}ItemId")
        if kind is None or item_id is None:
            continue
        changes.append(SyncChange(kind, item_id.get("Id", ""), item_id.get("ChangeKey")))
    complete = (message.findtext(f"{{{MESSAGES}}}IncludesLastItemInRange") or "").strip().lower() == "true"
    return SyncPage(tuple(changes), message.findtext(f"{{{MESSAGES}}}SyncState") or "", complete)


class EwsSync:
    """SyncFolderItems over one httpx client (Basic authentication as the service account), on the event loop."""

    def __init__(self, url: str, username: str, password: str, max_connections: int, timeout_s: float = 30.0) -> None:
        self.url = url
        self._http = httpx.AsyncClient(
            auth=httpx.BasicAuth(username, password), timeout=timeout_s,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml"},
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._http.aclose()

    async def page(self, mailbox: str, folder: str, sync_state: str | None, max_changes: int) -> SyncPage:
        """One page of the folder's changes since `sync_state` (None: from the start)."""
        try:
            response = await self._http.post(
                self.url, content=request_body(mailbox, folder, sync_state, max_changes),
                headers={"X-AnchorMailbox": mailbox},
            )  # fmt: skip
        except httpx.TransportError as exc:  # refused, dropped, timed out: the server may be back soon
            raise Transient(f"SyncFolderItems: {type(exc).__name__}: {exc}"[:500]) from exc
        if response.status_code in (429, 502, 503, 504):
            raise Transient(f"SyncFolderItems: HTTP {response.status_code}", _retry_after(response))
        if response.status_code == 401:
            raise ExchangeError("SyncFolderItems: HTTP 401, the service account's credentials were refused")
        return parse_response(response.status_code, response.content)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None
