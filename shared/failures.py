"""The two kinds of failure (DESIGN 4): transient ones are retried forever, anything else is deterministic.

A refusal under the acting user's security (CRM's 403: the user lacks the privilege, the record is out of its
reach, a secured field) is deterministic too, but it is no broken event either: it is an outcome to record
(DeltaApplied "denied") and answer, never retried and never dead-lettered. `is_denied` tells it apart.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import PurePath

import httpx
from aiokafka.errors import KafkaError, KafkaTimeoutError
from redis import exceptions as redis_errors

# Failures that say "not now" whatever the event: the store, the broker or a side is away or busy.
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,  # builtin: refused, reset, aborted (OSError subclasses)
    TimeoutError,  # builtin, and asyncio's since 3.11
    redis_errors.ConnectionError,  # includes BusyLoadingError: Redis is loading its AOF
    redis_errors.TimeoutError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,  # includes MasterDownError
    redis_errors.ReadOnlyError,  # a replica during a failover
    redis_errors.OutOfMemoryError,  # maxmemory with noeviction: frees up when load drops
    KafkaTimeoutError,  # the producer's buffer did not drain: the broker is away
    httpx.TransportError,  # a client that did not translate it: no answer came
)
# How deep an explicit cause chain (`raise ... from ...`) is followed to find the root of a failure.
_MAX_CHAIN = 8
_FRAMES = 4  # frames a traceback summary keeps, innermost last


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same event later can succeed without anyone changing anything.

    An error that knows (CrmError, the Exchange client's Transient) says so with a `transient` attribute;
    Kafka errors carry `retriable`; otherwise the type decides (TRANSIENT_TYPES). A wrapper raised
    `from` a transient failure (faust's ProducerSendError from a Kafka timeout) is transient, and so is
    a group with a transient member. Anything else is deterministic: the same event fails the same way.
    """
    for link in _chain(exc):
        if isinstance(link, BaseExceptionGroup) and any(is_transient(e) for e in link.exceptions):
            return True
        flag = getattr(link, "transient", None)
        if isinstance(flag, bool):
            if flag:
                return True
            continue  # it says it is not; its cause may still be an outage
        if isinstance(link, TRANSIENT_TYPES) or (isinstance(link, KafkaError) and link.retriable):
            return True
    return False


def is_denied(exc: BaseException) -> bool:
    """True when the failure is a refusal under the acting user's security (an error with `denied` set: CrmError
    on 403); never transient, so retrying the same write as the same user cannot succeed."""
    return any(getattr(link, "denied", None) is True for link in _chain(exc))


def retry_after(exc: BaseException) -> float | None:
    """The wait in seconds the server asked for (HTTP Retry-After, EWS BackOffMilliseconds), if any."""
    for link in _chain(exc):
        value = getattr(link, "retry_after", None)
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    return None


def describe(exc: BaseException) -> str:
    """`Type: message`, the reason a dead letter's fs-error header carries."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def type_name(exc: BaseException) -> str:
    """The exception's qualified type, as an operator searches for it (builtins without a module)."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def summary(exc: BaseException) -> str:
    """The innermost frames of the traceback, `file:line in function` joined by ` < ` (innermost first).

    Paths are shortened to the package part (after site-packages, or the last three parts), so a header
    names where it failed without naming the machine it ran on."""
    frames = traceback.extract_tb(exc.__traceback__)[-_FRAMES:]
    return " < ".join(f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in reversed(frames))


def _short(filename: str) -> str:
    parts = PurePath(filename).parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1 :])
    return "/".join(parts[-3:])


def _chain(exc: BaseException) -> Iterator[BaseException]:
    link: BaseException | None = exc
    for _ in range(_MAX_CHAIN):
        if link is None:
            return
        yield link
        link = link.__cause__
