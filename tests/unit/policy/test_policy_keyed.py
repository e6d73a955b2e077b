"""KeyedSteps: one key's steps in order, different keys at once, acks per partition in offset order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.policy.keyed import KeyedSteps


class Steps:
    """Steps that finish when the test releases them, recording the order they start and are acked in."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.acked: list[str] = []
        self.results: dict[str, bool] = {}

    def step(self, name: str) -> Callable[[], Awaitable[bool]]:
        self.gates[name] = asyncio.Event()

        async def run() -> bool:
            self.started.append(name)
            await self.gates[name].wait()
            return self.results.get(name, True)

        return run

    async def ack(self, name: str) -> None:
        self.acked.append(name)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)  # let the scheduled steps run up to their next await (no timing involved)


async def test_one_keys_steps_run_in_order_and_other_keys_meanwhile() -> None:
    steps = Steps()
    runner: KeyedSteps[str] = KeyedSteps(8, steps.ack)
    await runner.submit("pair-a", 0, "a1", steps.step("a1"))
    await runner.submit("pair-a", 0, "a2", steps.step("a2"))
    await runner.submit("pair-b", 1, "b1", steps.step("b1"))
    await settle()
    assert steps.started == ["a1", "b1"]  # a2 waits for a1; b1 does not
    steps.gates["b1"].set()
    await settle()
    assert steps.acked == ["b1"]
    steps.gates["a1"].set()
    await settle()
    assert steps.started == ["a1", "b1", "a2"]
    steps.gates["a2"].set()
    await runner.drain()
    assert steps.acked == ["b1", "a1", "a2"]


async def test_an_event_is_acked_only_after_every_earlier_event_of_its_partition() -> None:
    steps = Steps()
    runner: KeyedSteps[str] = KeyedSteps(8, steps.ack)
    await runner.submit("pair-a", 0, "first", steps.step("first"))
    await runner.submit("pair-b", 0, "second", steps.step("second"))
    steps.gates["second"].set()
    await settle()
    assert steps.acked == []  # done, but "first" (earlier offset of partition 0) is not
    steps.gates["first"].set()
    await runner.drain()
    assert steps.acked == ["first", "second"]


async def test_a_step_cut_short_stops_its_key_and_the_acks_after_it() -> None:
    steps = Steps()
    runner: KeyedSteps[str] = KeyedSteps(8, steps.ack)
    steps.results["a1"] = False  # the worker is stopping
    await runner.submit("pair-a", 0, "a1", steps.step("a1"))
    await runner.submit("pair-a", 0, "a2", steps.step("a2"))
    await runner.submit("pair-b", 0, "b1", steps.step("b1"))
    for gate in steps.gates.values():
        gate.set()
    await runner.drain()
    assert runner.stopped
    assert "a2" not in steps.started
    assert steps.acked == []


async def test_no_more_than_the_limit_run_at_once() -> None:
    steps = Steps()
    runner: KeyedSteps[str] = KeyedSteps(2, steps.ack)
    await runner.submit("k1", 0, "e1", steps.step("e1"))
    await runner.submit("k2", 1, "e2", steps.step("e2"))
    third = asyncio.create_task(runner.submit("k3", 2, "e3", steps.step("e3")))
    await settle()
    assert steps.started == ["e1", "e2"] and not third.done()  # the stream waits for a free slot
    steps.gates["e1"].set()
    await third
    await settle()
    assert steps.started == ["e1", "e2", "e3"]
    steps.gates["e2"].set()
    steps.gates["e3"].set()
    await runner.drain()
    assert sorted(steps.acked) == ["e1", "e2", "e3"]
