"""When a loop's independent units (an entity, a mailbox folder) are due, each with its own failure streak (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# The longest Retry-After honoured as asked; a larger one (or a misconfigured server) waits this long.
RETRY_AFTER_MAX_S = 300.0


def backoff_delay(failures: int, interval_s: float, cap_s: float, retry_after_s: float | None = None) -> float:
    """The wait after the n-th consecutive failure: exponential from `interval_s` (at least 0.1 s), capped;
    never shorter than the server's Retry-After (itself bounded by RETRY_AFTER_MAX_S)."""
    delay = min(max(interval_s, 0.1) * 2.0 ** min(failures, 20), cap_s)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, RETRY_AFTER_MAX_S))
    return delay


@dataclass
class Pacer:
    """Each unit's next due time and failure streak: one unit failing backs off alone, the others keep the
    interval. Times are the caller's monotonic clock; nothing here reads a clock or sleeps."""

    interval_s: float
    cap_s: float
    due: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def is_due(self, unit: str, now: float) -> bool:
        return self.due.get(unit, now) <= now

    def succeeded(self, unit: str, now: float) -> int:
        """Schedule the next round after the interval; returns the streak of failures that just ended."""
        self.due[unit] = now + self.interval_s
        return self.failures.pop(unit, 0)

    def failed(self, unit: str, now: float, retry_after_s: float | None = None) -> int:
        """Back this unit off (exponential, capped, at least Retry-After); returns its failures so far."""
        count = self.failures.get(unit, 0) + 1
        self.failures[unit] = count
        self.due[unit] = now + backoff_delay(count, self.interval_s, self.cap_s, retry_after_s)
        return count

    def wait(self, units: Iterable[str], now: float) -> float:
        """Seconds until the first of `units` is due (0 when one is due now; the interval when none is known)."""
        times = [self.due.get(unit, now) for unit in units]
        return max(0.0, min(times) - now) if times else self.interval_s
