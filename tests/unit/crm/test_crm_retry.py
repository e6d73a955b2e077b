"""The CRM client's pure parts: Retry-After, backoff, change-tracking pages, etags, error mapping."""

from __future__ import annotations

import httpx
import pytest

from shared.crm.client import (
    EXPIRED_VERSION_STAMP,
    Forbidden,
    InvalidCursor,
    NotFound,
    PreconditionFailed,
    RetryPolicy,
    Unavailable,
    _error_of,
    etag_version,
    parse_retry_after,
    retry_delay,
    split_changes,
)


@pytest.mark.parametrize(("raw", "seconds"), [("3", 3.0), ("0", 0.0), ("-2", 0.0), ("soon", None), (None, None)])
def test_parse_retry_after(raw: str | None, seconds: float | None) -> None:
    assert parse_retry_after(raw) == seconds


@pytest.mark.parametrize(
    ("attempt", "retry_after", "delay"),
    [(1, None, 0.2), (2, None, 0.4), (3, None, 0.8), (10, None, 5.0), (1, 3.0, 3.0), (1, 60.0, 5.0), (4, 0.0, 0.0)],
)
def test_retry_delay_honours_retry_after_and_caps(attempt: int, retry_after: float | None, delay: float) -> None:
    assert retry_delay(attempt, retry_after, RetryPolicy(attempts=5, base_s=0.2, cap_s=5.0)) == pytest.approx(delay)


def test_split_changes_separates_deleted_entities() -> None:
    values = [
        {"@odata.etag": 'W/"5"', "contactid": "c1", "lastname": "A"},
        {
            "@odata.context": "http://x/api/data/v9.2/$metadata#contacts/$deletedEntity",
            "id": "0B1E7A5C-1111-2222-3333-444455556666",
            "reason": "deleted",
        },
        {"@odata.context": "x/$deletedEntity", "id": "not a guid"},
    ]
    rows, deleted = split_changes(values, "contactid")
    assert [r["contactid"] for r in rows] == ["c1"]
    assert deleted == ["0b1e7a5c-1111-2222-3333-444455556666"]


@pytest.mark.parametrize(("etag", "version"), [('W/"12345"', "12345"), ('"7"', "7"), (None, None), ("", None)])
def test_etag_version(etag: str | None, version: str | None) -> None:
    assert etag_version(etag) == version


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (403, Forbidden, False),
        (404, NotFound, False),
        (412, PreconditionFailed, False),
        (429, Unavailable, True),
        (503, Unavailable, True),
    ],
)
def test_error_mapping(status: int, kind: type, transient: bool) -> None:
    body = {"error": {"code": "0x80040217", "message": "nope"}}
    error = _error_of(httpx.Response(status, json=body))
    assert isinstance(error, kind) and error.transient == transient
    assert (error.code, error.message) == ("0x80040217", "nope")
    plain = _error_of(httpx.Response(400, text="<html>bad</html>"))
    assert (plain.status, plain.code, plain.transient) == (400, None, False)


def test_an_expired_delta_token_is_an_invalid_cursor_by_its_code_and_throttling_keeps_its_wait() -> None:
    message = "Version stamp associated with the client has expired. Please perform a full sync."
    expired = _error_of(httpx.Response(400, json={"error": {"code": EXPIRED_VERSION_STAMP, "message": message}}))
    assert isinstance(expired, InvalidCursor) and not expired.transient and expired.message == message
    throttled = _error_of(httpx.Response(429, headers={"Retry-After": "4"}, json={"error": {"message": "slow"}}))
    assert isinstance(throttled, Unavailable) and throttled.retry_after == 4.0


@pytest.mark.parametrize("code", ["0x80040220", "0x80048306", "0x8004F507", "0x8004F502"])
def test_a_403_is_a_denial_never_an_outage(code: str) -> None:
    error = _error_of(httpx.Response(403, json={"error": {"code": code, "message": "no"}}))
    assert isinstance(error, Forbidden) and error.denied and not error.transient and error.code == code
    assert not _error_of(httpx.Response(404, json={"error": {"message": "gone"}})).denied
