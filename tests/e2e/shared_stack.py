"""The e2e modules that take turns on one embedded stack, and how they get it.

These modules work on records of their own and change nothing global but the policy, which each gives back as
the documented default (tests/e2e/conftest.py). Under `make test` (`--dist loadfile`) the scheduler below sends
them to one worker as one unit, so they run one after another; the stack starts when the first needs it and
stops as soon as any other module starts (tests/conftest.py), so it never idles beside the rest of the suite (an
idle stack's services still poll, and cost CPU on two cores). A stack start is about 35 s of CPU, every service
importing its libraries: sharing one saves that for all but the first of them.
"""

from __future__ import annotations

from collections.abc import Callable

from xdist.scheduler import LoadFileScheduling

from infra.runner.stack import Stack, StackSettings

MODULES = frozenset(
    f"tests/e2e/test_pipeline_{name}.py"
    for name in ("activities", "contacts", "entities", "explain", "recurrence", "policy", "conflicts", "restart")
)
GROUP = "tests/e2e [shared stack]"


class SharedStackScheduling(LoadFileScheduling):
    """One unit of work per file, as `--dist loadfile`, except that MODULES are one unit together."""

    def _split_scope(self, nodeid: str) -> str:
        scope = super()._split_scope(nodeid)
        return GROUP if scope in MODULES else scope


class SharedStack:
    def __init__(self) -> None:
        self._stack: Stack | None = None

    def get(self, settings: Callable[[], StackSettings]) -> Stack:
        if self._stack is None:
            self._stack = Stack(settings()).start()
        return self._stack

    def release(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.stop()


SHARED = SharedStack()
