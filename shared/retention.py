"""The retention window of the bounded logs in Redis (conflicts, explain, dead letters): time scores and cut-offs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def score(moment: datetime) -> int:
    """Microseconds since the epoch: exact in a sorted-set score (a double) until the year 2255; naive is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class Window:
    """Entries scored older than `retention_s` before `clock()` are gone: trimmed on write, never shown on read."""

    retention_s: float
    clock: Callable[[], datetime] = utcnow

    @property
    def retention_us(self) -> int:
        return round(self.retention_s * 1_000_000)

    def oldest_kept(self) -> int:
        return score(self.clock()) - self.retention_us
