"""The policy agents' retry wrapper (services.policy.app.until_done) against a fake app: outages are retried
forever, a change that fails the same way is handed to the dead-letter step after its attempts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisDown

from services.policy.app import RETRY_MAX_S, until_done


@dataclass
class FakeApp:
    """What until_done uses of a faust app: should_stop and sleep (recorded, not slept)."""

    should_stop: bool = False
    slept: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def failing(*failures: Exception) -> tuple[Callable[[], Any], list[int]]:
    """A step that raises `failures` one after another, then succeeds; and the count of its calls."""
    calls = [0]

    async def step() -> None:
        calls[0] += 1
        if calls[0] <= len(failures):
            raise failures[calls[0] - 1]

    return step, calls


async def test_an_outage_is_retried_with_capped_backoff_and_never_dead_lettered() -> None:
    app, given_up = FakeApp(), []
    step, calls = failing(*[RedisDown("down")] * 12)

    async def poison(exc: Exception) -> None:
        given_up.append(exc)

    assert await until_done(app, "decide a change", step, poison, attempts=3)  # type: ignore[arg-type]
    assert calls == [13] and given_up == []
    assert app.slept[:3] == [0.1, 0.2, 0.4] and max(app.slept) == RETRY_MAX_S


async def test_a_deterministic_failure_is_dead_lettered_after_its_attempts_and_counts_as_done() -> None:
    app, given_up = FakeApp(), []
    step, calls = failing(*[KeyError("poison")] * 10)

    async def poison(exc: Exception) -> None:
        given_up.append(exc)

    assert await until_done(app, "decide a change", step, poison, attempts=3)  # type: ignore[arg-type]
    assert calls == [3] and [type(e) for e in given_up] == [KeyError]
    assert len(app.slept) == 2  # backed off between the attempts, not after giving up


async def test_outages_between_deterministic_failures_do_not_count_as_attempts() -> None:
    app, given_up = FakeApp(), []
    step, calls = failing(KeyError("x"), RedisDown("down"), RedisDown("down"), KeyError("x"), ValueError("y"))

    async def poison(exc: Exception) -> None:
        given_up.append(exc)

    assert await until_done(app, "decide a change", step, poison, attempts=3)  # type: ignore[arg-type]
    assert calls == [5] and [type(e) for e in given_up] == [ValueError]


async def test_a_dead_letter_that_meets_an_outage_is_retried_until_it_is_sent() -> None:
    app = FakeApp()
    step, _ = failing(*[KeyError("poison")] * 10)
    sent, attempts = [], [0]

    async def poison(exc: Exception) -> None:
        attempts[0] += 1
        if attempts[0] <= 2:
            raise ConnectionResetError("the broker went away")
        sent.append(exc)

    assert await until_done(app, "decide a change", step, poison, attempts=2)  # type: ignore[arg-type]
    assert attempts == [3] and len(sent) == 1


async def test_without_a_dead_letter_step_every_failure_is_retried_and_a_stop_ends_it() -> None:
    app = FakeApp()
    step, calls = failing(*[KeyError("x")] * 5)
    assert await until_done(app, "load the policy", step)  # type: ignore[arg-type]
    assert calls == [6]
    app.should_stop = True
    assert not await until_done(app, "load the policy", step)  # type: ignore[arg-type]
