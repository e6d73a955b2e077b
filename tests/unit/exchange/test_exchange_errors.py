"""How EWS failures are classified: busy/unavailable/transport retried, other response codes permanent."""

from __future__ import annotations

import pytest
import requests
from exchangelib import errors as ews_errors

from shared.exchange.errors import (
    Conflict,
    ExchangeError,
    InvalidCursor,
    ItemNotFound,
    NoMailbox,
    Transient,
    translate_error,
)


@pytest.mark.parametrize(
    "exc",
    [
        ews_errors.ErrorServerBusy("busy"),
        ews_errors.ErrorInternalServerTransientError("Caused by HTTP 503 response"),
        ews_errors.ErrorTimeoutExpired("timeout"),
        ews_errors.ErrorMailboxStoreUnavailable("store down"),
        ews_errors.ErrorTooManyObjectsOpened("too many"),
        ews_errors.ErrorConnectionFailed("no connection"),
        ews_errors.TransportError("HTTP 429 headers: {'Retry-After': '7'}"),
        ews_errors.RateLimitError("Max timeout reached", wait=3.0),
        requests.exceptions.ConnectionError("reset"),
        ConnectionResetError("reset"),
        TimeoutError("slow"),
    ],
)
def test_busy_unavailable_and_transport_failures_are_transient(exc: Exception) -> None:
    assert type(translate_error(exc)) is Transient


@pytest.mark.parametrize(
    "exc",
    [
        ews_errors.ErrorInvalidPropertyRequest("bad property"),
        ews_errors.ErrorSchemaValidation("bad request"),
        ews_errors.ErrorAccessDenied("no"),
        ews_errors.ErrorInvalidIdMalformed("bad id"),
        ews_errors.ErrorInternalServerError("internal"),
        ews_errors.ErrorInvalidOperation("nope"),
        ews_errors.UnauthorizedError("401"),
    ],
)
def test_other_response_codes_are_permanent(exc: Exception) -> None:
    translated = translate_error(exc)
    assert type(translated) is ExchangeError
    assert type(exc).__name__ in str(translated)


def test_specific_codes_have_their_own_errors() -> None:
    assert type(translate_error(ews_errors.ErrorItemNotFound("gone"))) is ItemNotFound
    assert type(translate_error(ews_errors.ErrorIrresolvableConflict("stale"))) is Conflict
    assert type(translate_error(ews_errors.ErrorNonExistentMailbox("none"))) is NoMailbox
    assert type(translate_error(ews_errors.ErrorInvalidSyncStateData("stale state"))) is InvalidCursor


def test_the_servers_requested_wait_is_kept() -> None:
    busy = translate_error(ews_errors.ErrorServerBusy("busy", back_off=2.5))
    throttled = translate_error(ews_errors.TransportError("HTTP 429 headers: {'Retry-After': '7'}"))
    assert isinstance(busy, Transient) and busy.retry_after == 2.5
    assert isinstance(throttled, Transient) and throttled.retry_after == 7.0


def test_anything_else_is_left_as_it_is() -> None:
    error = ValueError("a bug")
    assert translate_error(error) is error
