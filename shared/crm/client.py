"""The Dynamics 365 Web API client: token, OData paging, change tracking, etags, retries with Retry-After."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from shared.settings import CrmSettings

DUPLICATE_KEY = "0x80040237"
# ExpiredVersionStamp: "Version stamp associated with the client has expired. Please perform a full sync."
# (Dataverse web service error codes); what a delta link older than the change-tracking retention gets.
EXPIRED_VERSION_STAMP = "0x80044352"
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
Row = dict[str, Any]


class CrmError(Exception):
    """A Web API error: HTTP status, the Dynamics error code (e.g. 0x80040217) and its message."""

    def __init__(self, status: int, code: str | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"CRM {status} {code or ''}: {message}".replace("  ", " "))
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after  # the server's Retry-After in seconds, when it sent one

    @property
    def transient(self) -> bool:
        """Read by shared.failures: 429/5xx-unavailable or no answer at all is an outage, not this request."""
        return self.status in TRANSIENT_STATUSES or self.status == 0

    @property
    def denied(self) -> bool:
        """Read by shared.failures: 403, CRM refused the call under the acting user's security."""
        return self.status == 403


class NotFound(CrmError):
    """404: the record (or entity set) does not exist."""


class PreconditionFailed(CrmError):
    """412: the If-Match etag is stale (the row changed since it was read)."""


class InvalidCursor(CrmError):
    """The delta link's token expired or is no longer valid (ExpiredVersionStamp): track changes afresh."""


class Forbidden(CrmError):
    """403: CRM refused the call under the acting user's security (PrivilegeDenied 0x80040220, the record is out
    of the privilege's reach 0x80048306, a secured field 0x8004F507 on update or 0x8004F502 on create). Not an
    outage and not a broken event: the same call as the same user is refused until someone changes security."""


class Unavailable(CrmError):
    """A transient failure (429/503/connection) that outlasted the bounded retries; status 0 = no answer."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 10.0


@dataclass(frozen=True)
class ChangePage:
    """Everything a delta link returned (all pages followed): live rows, deleted ids, the next delta link."""

    rows: list[Row] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    delta_link: str = ""


LOOKUP_ANNOTATIONS = (
    'odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname"'
)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the Web API sends delta-seconds); None when absent or unreadable."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def retry_delay(attempt: int, retry_after: float | None, policy: RetryPolicy) -> float:
    """The wait before retry `attempt` (1-based): Retry-After when given, else capped exponential."""
    if retry_after is not None:
        return min(retry_after, policy.cap_s)
    return min(policy.base_s * 2.0 ** (attempt - 1), policy.cap_s)


def split_changes(values: list[Row], key: str) -> tuple[list[Row], list[str]]:
    """A change-tracking `value` array -> (live rows, ids of `$deletedEntity` entries)."""
    rows: list[Row] = []
    deleted: list[str] = []
    for entry in values:
        if "$deletedEntity" in str(entry.get("@odata.context", "")):
            found = _GUID.search(str(entry.get("id", "")))
            if found:
                deleted.append(found.group(0).lower())
        elif entry.get(key):
            rows.append(entry)
    return rows, deleted


def etag_version(etag: str | None) -> str | None:
    """W/"12345" -> "12345" (the row's versionnumber)."""
    if not etag:
        return None
    return etag.removeprefix("W/").strip('"') or None


def _error_of(response: httpx.Response) -> CrmError:
    try:
        body = response.json().get("error", {})
        code, message = body.get("code"), str(body.get("message", response.reason_phrase))
    except (ValueError, AttributeError):
        code, message = None, response.text[:500] or response.reason_phrase
    kind = {403: Forbidden, 404: NotFound, 412: PreconditionFailed}.get(response.status_code, CrmError)
    if response.status_code in TRANSIENT_STATUSES:
        kind = Unavailable
    elif code == EXPIRED_VERSION_STAMP:
        kind = InvalidCursor
    return kind(response.status_code, code, message, parse_retry_after(response.headers.get("retry-after")))


class CrmClient:
    """One async client per service; retries transient failures, never decides what a failure means."""

    def __init__(
        self,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        caller_id: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token_url, self.client_id, self._secret = token_url, client_id, client_secret
        self.retry = retry or RetryPolicy()
        self.caller_id = caller_id
        self._sleep = sleep
        self._on_retry = on_retry  # told the status ("429", "503", "0": no answer) of each request it retries
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: CrmSettings, **options: Any) -> CrmClient:
        return cls(
            settings.crm_base_url, settings.crm_token_url, settings.crm_client_id, settings.crm_client_secret, **options
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CrmClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- transport
    async def _access_token(self, force: bool = False) -> str:
        async with self._token_lock:
            # Refresh a minute early so no request leaves with a token about to expire.
            if force or self._token is None or time.monotonic() > self._token_expires - 60:
                form = {
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self._secret.get_secret_value(),
                }
                response = await self._http.post(self.token_url, data=form)
                if response.status_code != 200:
                    raise CrmError(response.status_code, None, "token request refused")
                body = response.json()
                self._token = str(body["access_token"])
                self._token_expires = time.monotonic() + float(body.get("expires_in", 3600))
            return self._token

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        caller_id: str | None = None,
    ) -> httpx.Response:
        """Send with auth; retry 429/5xx-unavailable/connection errors with backoff; raise CrmError on errors.

        `caller_id` impersonates that systemuser for this request (MSCRMCallerID), over the client's own."""
        target = url if url.startswith("http") else self.base_url + url
        extra = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json", **(headers or {})}
        # Every read carries each lookup's table and name (crm_fields reads them into the canonical lookup value).
        extra["Prefer"] = ",".join(p for p in (extra.get("Prefer"), LOOKUP_ANNOTATIONS) if p)
        if caller_id or self.caller_id:
            extra["MSCRMCallerID"] = str(caller_id or self.caller_id)
        attempt, refreshed = 0, False
        while True:
            attempt += 1
            try:
                token = await self._access_token()
                response = await self._http.request(
                    method, target, json=json, params=params, headers={**extra, "Authorization": f"Bearer {token}"}
                )
            except httpx.TransportError as exc:
                error: CrmError = Unavailable(0, None, f"connection failed: {exc!r}")
                retry_after = None
            else:
                if response.status_code == 401 and not refreshed:
                    refreshed = True  # the token expired server-side: fetch a new one once
                    await self._access_token(force=True)
                    attempt -= 1
                    continue
                if response.status_code < 400:
                    return response
                error = _error_of(response)
                retry_after = error.retry_after
            if not error.transient or attempt >= self.retry.attempts:
                raise error
            if self._on_retry is not None:
                self._on_retry(str(error.status) if error.status else "unreachable")
            await self._sleep(retry_delay(attempt, retry_after, self.retry))

    # -- records
    async def get(self, entity_set: str, record_id: str, select: list[str] | None = None) -> Row:
        params = {"$select": ",".join(select)} if select else None
        response = await self.request("GET", f"{entity_set}({record_id})", params=params)
        return dict(response.json())

    async def query(
        self, entity_set: str, *, select: list[str] | None = None, filter: str | None = None,
        caller_id: str | None = None,
    ) -> list[Row]:  # fmt: skip
        """Every row of a query, following @odata.nextLink; as `caller_id` (MSCRMCallerID), only the rows that
        user may read, secured fields they may not read as null."""
        options = {"$select": ",".join(select or []), "$filter": filter or ""}
        params: dict[str, str] | None = {k: v for k, v in options.items() if v}
        rows: list[Row] = []
        url: str | None = entity_set
        while url:
            response = await self.request("GET", url, params=params, caller_id=caller_id)
            body = response.json()
            rows.extend(body.get("value", []))
            url, params = body.get("@odata.nextLink"), None
        return rows

    async def changes(
        self, entity_set: str, key: str, delta_link: str | None, select: list[str] | None = None
    ) -> ChangePage:
        """Follow a delta link (or start tracking when None) through every page to the next delta link.

        Raises InvalidCursor when the link's token expired (the caller starts afresh with None)."""
        rows: list[Row] = []
        deleted: list[str] = []
        url: str | None = delta_link or entity_set
        params = {"$select": ",".join(select)} if select and not delta_link else None
        headers = {"Prefer": "odata.track-changes"}
        while url:
            body = (await self.request("GET", url, params=params, headers=headers)).json()
            page_rows, page_deleted = split_changes(body.get("value", []), key)
            rows.extend(page_rows)
            deleted.extend(page_deleted)
            if "@odata.deltaLink" in body:
                return ChangePage(rows, deleted, str(body["@odata.deltaLink"]))
            url, params = body.get("@odata.nextLink"), None
        raise CrmError(200, None, f"change tracking of {entity_set} returned no @odata.deltaLink")

    # The writes take `caller_id`: the systemuser the write acts as (MSCRMCallerID), so that CRM enforces that
    # user's privileges and records the client's own user as the one acting on their behalf.
    async def create(self, entity_set: str, body: Row, *, caller_id: str | None = None) -> Row:
        """POST and return the created row (return=representation: etag and versionnumber included)."""
        headers = {"Prefer": "return=representation"}
        response = await self.request("POST", entity_set, json=body, headers=headers, caller_id=caller_id)
        return dict(response.json())

    async def update(
        self, entity_set: str, record_id: str, body: Row, if_match: str | None = None, *, caller_id: str | None = None
    ) -> Row:
        """PATCH an existing row (If-Match: etag, or `*` so an update never creates); returns the new row."""
        headers = {"Prefer": "return=representation", "If-Match": if_match or "*"}
        path = f"{entity_set}({record_id})"
        response = await self.request("PATCH", path, json=body, headers=headers, caller_id=caller_id)
        return dict(response.json()) if response.content else {}

    async def delete(
        self, entity_set: str, record_id: str, if_match: str | None = None, *, caller_id: str | None = None
    ) -> None:
        headers = {"If-Match": if_match} if if_match else None
        await self.request("DELETE", f"{entity_set}({record_id})", headers=headers, caller_id=caller_id)

    # -- users
    async def who_am_i(self) -> str:
        """The systemuser id this client acts as (the application user fieldsync writes with)."""
        return str((await self.request("GET", "WhoAmI")).json()["UserId"]).lower()

    async def user_email(self, systemuser_id: str) -> str | None:
        try:
            row = await self.get("systemusers", systemuser_id, ["internalemailaddress"])
        except NotFound:
            return None
        return row.get("internalemailaddress")

    async def user_by_email(self, email: str) -> str | None:
        quoted = email.replace("'", "''")
        rows = await self.query("systemusers", select=["systemuserid"], filter=f"internalemailaddress eq '{quoted}'")
        return str(rows[0]["systemuserid"]) if rows else None
