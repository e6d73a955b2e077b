"""The Exchange client's error vocabulary, and how EWS answers and exchangelib's exceptions map onto it."""

from __future__ import annotations

import re

from exchangelib import errors as ews_errors

# EWS response codes that say "not now" rather than "never": worth retrying.
TRANSIENT_CODES = frozenset({
    "ErrorServerBusy",
    "ErrorInternalServerTransientError",
    "ErrorTimeoutExpired",
    "ErrorMailboxStoreUnavailable",
    "ErrorTooManyObjectsOpened",
    "ErrorConnectionFailed",
    "ErrorConnectionFailedTransientError",
})  # fmt: skip


class ExchangeError(Exception):
    """An EWS failure that is neither transient nor one of the specific cases below."""

    transient = False  # shared.failures reads it: retrying the same request gets the same answer


class Conflict(ExchangeError):
    """The ChangeKey sent is stale: the item changed since it was read (ErrorIrresolvableConflict)."""


class ItemNotFound(ExchangeError):
    """The item (or the mailbox) does not exist."""


class NoMailbox(ExchangeError):
    """The address has no mailbox (ErrorNonExistentMailbox): a user without one, or an application user."""


class InvalidCursor(ExchangeError):
    """The folder's sync state is invalid or expired (ErrorInvalidSyncStateData): sync the folder afresh."""


class Transient(ExchangeError):
    """Worth retrying later; `retry_after` is the server's requested wait in seconds when it gave one."""

    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_TRANSIENT_CODES = tuple(getattr(ews_errors, name) for name in sorted(TRANSIENT_CODES))
# Below the EWS response: HTTP 429/503, dropped connections, timeouts.
_TRANSPORT = (ews_errors.TransportError, ConnectionError, TimeoutError)
_RETRY_AFTER = re.compile(r"['\"]retry-after['\"]:\s*['\"](\d+)['\"]", re.IGNORECASE)


def translate_error(exc: Exception) -> Exception:
    """Map an exchangelib/transport exception onto this module's small vocabulary (no decisions here).

    exchangelib raises every EWS response code as a subclass of TransportError (ResponseMessageError),
    so the response codes are classified first: only the busy/unavailable ones are Transient, any other
    Error* code is permanent (retrying the same request gets the same answer). Then what is left of
    TransportError (HTTP 429/503, a response that never came) and connection errors are Transient.
    """
    if isinstance(exc, ews_errors.ErrorIrresolvableConflict):
        return Conflict(str(exc))
    if isinstance(exc, ews_errors.ErrorItemNotFound):
        return ItemNotFound(str(exc))
    if isinstance(exc, ews_errors.ErrorNonExistentMailbox):
        return NoMailbox(str(exc))
    if isinstance(exc, ews_errors.ErrorInvalidSyncStateData):
        return InvalidCursor(str(exc))
    if isinstance(exc, ews_errors.ErrorServerBusy):  # BackOffMilliseconds, or Retry-After, as seconds
        return Transient(str(exc), exc.back_off)
    if isinstance(exc, _TRANSIENT_CODES):
        return Transient(f"{type(exc).__name__}: {exc}"[:500])
    if isinstance(exc, ews_errors.ResponseMessageError):
        return ExchangeError(f"{type(exc).__name__}: {exc}"[:500])
    if isinstance(exc, _TRANSPORT) or "requests.exceptions" in type(exc).__module__:
        # exchangelib's fail-fast policy reports HTTP 429 as a TransportError whose text holds the headers.
        match = _RETRY_AFTER.search(str(exc))
        return Transient(f"{type(exc).__name__}: {exc}"[:500], float(match.group(1)) if match else None)
    if isinstance(exc, ews_errors.EWSError):
        return ExchangeError(f"{type(exc).__name__}: {exc}"[:500])
    return exc


def from_response_code(code: str, message: str, back_off_s: float | None = None) -> ExchangeError:
    """An EWS ResponseCode read off the wire (the hand-built requests of ews_sync) -> the same vocabulary."""
    text = f"{code}: {message}"[:500]
    if code == "ErrorIrresolvableConflict":
        return Conflict(text)
    if code == "ErrorItemNotFound":
        return ItemNotFound(text)
    if code == "ErrorNonExistentMailbox":
        return NoMailbox(text)
    if code == "ErrorInvalidSyncStateData":
        return InvalidCursor(text)
    if code in TRANSIENT_CODES:
        return Transient(text, back_off_s)
    return ExchangeError(text)
