"""The two kinds of failure (shared.failures): every transient shape a row, deterministic the rest."""

from __future__ import annotations

import httpx
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from faust.exceptions import ProducerSendError
from pydantic import BaseModel, ValidationError
from redis import exceptions as redis_errors

from shared.crm.client import CrmError, Forbidden, InvalidCursor, NotFound, PreconditionFailed, Unavailable
from shared.exchange.errors import Conflict, ExchangeError, ItemNotFound, NoMailbox, Transient
from shared.exchange.errors import InvalidCursor as InvalidSyncState
from shared.failures import describe, is_denied, is_transient, retry_after, summary, type_name


def _from(wrapper: Exception, cause: Exception) -> Exception:
    try:
        raise wrapper from cause
    except Exception as exc:
        return exc


def _invalid() -> ValidationError:
    class Model(BaseModel):
        n: int

    try:
        Model.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


TRANSIENT = [
    ConnectionRefusedError("refused"),
    ConnectionResetError("reset"),
    TimeoutError(),  # asyncio's too, since 3.11
    redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379"),
    redis_errors.BusyLoadingError("Redis is loading the dataset in memory"),
    redis_errors.TimeoutError("Timeout reading from socket"),
    redis_errors.ReadOnlyError("You can't write against a read only replica."),
    redis_errors.OutOfMemoryError("command not allowed when used memory > 'maxmemory'"),
    redis_errors.TryAgainError("TRYAGAIN"),
    KafkaConnectionError("no broker"),
    KafkaTimeoutError(),
    RequestTimedOutError(),
    NotLeaderForPartitionError(),
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow"),
    Unavailable(503, None, "Service Unavailable"),
    Unavailable(0, None, "connection failed"),
    CrmError(429, None, "Too Many Requests"),
    Transient("ErrorServerBusy: busy", 2.0),
    _from(ProducerSendError("Error while sending"), KafkaTimeoutError()),
    _from(RuntimeError("a step wrapped it"), redis_errors.ConnectionError("down")),
    ExceptionGroup("several", [ValueError("x"), ConnectionResetError("reset")]),
]

DETERMINISTIC = [
    KeyError("fullname"),
    TypeError("unsupported operand"),
    ValueError("bad value"),
    AttributeError("'NoneType' object has no attribute 'get'"),
    _invalid(),
    redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    redis_errors.DataError("Invalid input of type: 'dict'"),
    MessageSizeTooLargeError(),
    CrmError(400, "0x80060888", "Could not find a property named 'x'"),
    NotFound(404, "0x80040217", "contact With Id = x Does Not Exist"),
    Forbidden(403, "0x8004F507", "Caller user does not have update permissions to a jobtitle secured field"),
    PreconditionFailed(412, "0x80060882", "stale etag"),
    InvalidCursor(400, "0x80044352", "Version stamp associated with the client has expired."),
    ExchangeError("ErrorInvalidPropertySet"),
    Conflict("ErrorIrresolvableConflict"),
    ItemNotFound("ErrorItemNotFound"),
    NoMailbox("ErrorNonExistentMailbox"),
    InvalidSyncState("ErrorInvalidSyncStateData"),
    _from(ProducerSendError("Error while sending"), MessageSizeTooLargeError()),
    ExceptionGroup("several", [ValueError("x"), KeyError("y")]),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_outages_are_transient(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", DETERMINISTIC, ids=lambda e: type(e).__name__)
def test_everything_else_is_deterministic(exc: Exception) -> None:
    assert not is_transient(exc)


@pytest.mark.parametrize(
    ("exc", "denied"),
    [
        (Forbidden(403, "0x80040220", "missing prvWriteContact"), True),
        (_from(RuntimeError("the write failed"), Forbidden(403, "0x8004F502", "secured")), True),
        (NotFound(404, "0x80040217", "gone"), False),
        (CrmError(400, None, "bad"), False),
        (Unavailable(503, None, "down"), False),
        (ValueError("x"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_a_refusal_under_the_users_security_is_denied(exc: Exception, denied: bool) -> None:
    assert is_denied(exc) == denied


def test_a_cause_chain_is_followed_only_so_far() -> None:
    exc: Exception = ConnectionResetError("reset")
    for n in range(20):
        exc = _from(RuntimeError(f"layer {n}"), exc)
    assert not is_transient(exc)  # the outage is 20 layers down: beyond the chain that is followed


def test_retry_after_is_the_servers_wait_from_the_error_or_its_cause() -> None:
    assert retry_after(Transient("busy", 2.5)) == 2.5
    assert retry_after(CrmError(429, None, "slow down", retry_after=7)) == 7.0
    assert retry_after(_from(RuntimeError("wrapped"), Transient("busy", 1.0))) == 1.0
    assert retry_after(Transient("busy")) is None
    assert retry_after(KeyError("x")) is None


def test_describe_and_type_name_say_what_failed() -> None:
    assert describe(KeyError("fullname")) == "KeyError: 'fullname'"
    assert describe(TimeoutError()) == "TimeoutError"
    assert type_name(KeyError("x")) == "KeyError"
    assert type_name(redis_errors.ResponseError("x")) == "redis.exceptions.ResponseError"


def _fails_deep() -> None:
    def inner() -> None:
        raise KeyError("poison")

    inner()


def test_a_summary_names_the_innermost_frames_without_the_machines_paths() -> None:
    try:
        _fails_deep()
    except KeyError as exc:
        text = summary(exc)
    frames = text.split(" < ")
    assert frames[0].startswith("unit/shared/test_failures.py:") and frames[0].endswith("in inner")
    assert frames[1].endswith("in _fails_deep") and len(frames) <= 4
    assert "/work" not in text and "/home" not in text
    assert summary(KeyError("never raised")) == ""
