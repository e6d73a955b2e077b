"""Backoff and per-unit pacing (shared.pacing): one unit failing backs off alone, the others keep the interval."""

from __future__ import annotations

import pytest

from shared.pacing import RETRY_AFTER_MAX_S, Pacer, backoff_delay


@pytest.mark.parametrize(
    ("failures", "interval", "cap", "retry_after", "expected"),
    [
        (1, 1.0, 30.0, None, 2.0),  # exponential from the interval
        (3, 1.0, 30.0, None, 8.0),
        (10, 1.0, 30.0, None, 30.0),  # capped
        (1, 0.01, 30.0, None, 0.2),  # never faster than 0.1 s doubled
        (1, 1.0, 30.0, 12.0, 12.0),  # the server's Retry-After wins when longer
        (4, 1.0, 30.0, 2.0, 16.0),  # and the backoff when that is longer
        (1, 1.0, 30.0, 90.0, 90.0),  # honoured beyond the cap
        (1, 1.0, 30.0, 10_000.0, RETRY_AFTER_MAX_S),  # within reason
        (100, 1.0, 30.0, None, 30.0),  # no overflow however long the streak
    ],
)
def test_backoff_delay(failures: int, interval: float, cap: float, retry_after: float | None, expected: float) -> None:
    assert backoff_delay(failures, interval, cap, retry_after) == expected


def test_a_failing_unit_backs_off_while_the_others_keep_their_interval() -> None:
    pacer = Pacer(interval_s=1.0, cap_s=30.0)
    assert pacer.is_due("contact", 0.0) and pacer.is_due("task", 0.0)  # unknown units are due at once
    assert pacer.failed("task", 0.0) == 1
    assert pacer.succeeded("contact", 0.0) == 0
    assert pacer.is_due("contact", 1.0) and not pacer.is_due("task", 1.0)
    assert pacer.is_due("task", 2.0)
    assert pacer.failed("task", 2.0) == 2  # the streak grows: next due at 2 + 4
    assert pacer.succeeded("contact", 1.0) == 0
    assert not pacer.is_due("task", 5.9) and pacer.is_due("task", 6.0)
    assert pacer.wait(["contact", "task"], 1.5) == pytest.approx(0.5)  # contact is due at 2.0 first
    assert pacer.succeeded("task", 6.0) == 2  # the streak that ended, for the recovery log line
    assert pacer.failures == {}


def test_retry_after_delays_a_unit_as_the_server_asked() -> None:
    pacer = Pacer(interval_s=0.05, cap_s=1.0)
    pacer.failed("calendar", 10.0, retry_after_s=5.0)
    assert not pacer.is_due("calendar", 14.9) and pacer.is_due("calendar", 15.0)


def test_waiting_for_nothing_known_is_one_interval_and_never_negative() -> None:
    pacer = Pacer(interval_s=1.0, cap_s=30.0)
    assert pacer.wait([], 0.0) == 1.0
    pacer.succeeded("contact", 0.0)
    assert pacer.wait(["contact"], 5.0) == 0.0
