"""The change window's writer: decided changes are handed over as they are, encoded and written in batches.

The decision path only keeps references (`Recorded`: the change, the facts, the pairs' states and the security
answers it was decided on) and appends them to a bounded buffer; `flush` encodes the buffer as the window's JSON
entries (`encoded`, pure: the same JSON shared.change_window.WindowEntry reads) and writes them in one pipeline
(LPUSH + LTRIM). Measured in bench/window.py: building and validating the entry models on the path cost more
than the decision itself; this way the path pays an append.

Lifecycle: `attach` runs `run` as a task of the worker: it flushes every FLUSH_S until the app stops, then once
more. The window is a sample of recent traffic, not state anything depends on: while Redis is away the buffer keeps
the newest `window.max_entries` (older ones are dropped), and a crash loses at most the last FLUSH_S of entries.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import faust

from services.policy.reconcile import PairStates
from services.policy.verdict import Facts
from shared.change_window import ChangeWindow, SecurityFacts
from shared.events import ItemChanged

FLUSH_S = 0.5
log = logging.getLogger("fieldsync.policy")


@dataclass(frozen=True)
class Recorded:
    """One decided change and what it was decided on, not yet encoded."""

    change: ItemChanged
    facts: Facts
    states: PairStates
    security: SecurityFacts
    policy_version: int
    decided_at: datetime


def encoded(recorded: Recorded) -> str:
    """The window entry's JSON (shared.change_window.WindowEntry), without building the models. Pure.

    Of the pairs' agreed values only the fields the change carried are kept: the merge point reads no other."""
    facts, carried = recorded.facts, recorded.change.changed
    agreed = [
        {"crm_id": crm_id, "mailbox": mailbox, "fields": {
            key: {"agreed": s.agreed, "at": s.at.isoformat(), "side": s.side, "held": dict(s.held)}
            for key, s in fields.items() if key in carried
        }}
        for (_entity, crm_id, mailbox), fields in recorded.states.items()
    ]  # fmt: skip
    rest = {
        "decided_at": recorded.decided_at.isoformat(),
        "policy_version": recorded.policy_version,
        "facts": {
            "links": dict(facts.links), "crm_values": dict(facts.crm_values),
            "exchange_values": {m: dict(v) for m, v in facts.exchange_values.items()},
            "untracked": sorted(facts.untracked), "agreed": agreed,
            "security": recorded.security.model_dump(mode="json"),
        },
    }  # fmt: skip
    return '{"change":' + recorded.change.model_dump_json() + "," + json.dumps(rest, default=str)[1:]


class WindowWriter:
    def __init__(self, window: ChangeWindow) -> None:
        self.window = window
        self.pending: deque[Recorded] = deque(maxlen=max(window.max_entries, 1))
        self._failing = False

    def add(self, recorded: Recorded) -> None:
        if self.window.enabled:
            self.pending.append(recorded)

    async def flush(self) -> int:
        """Write what is pending (oldest first) in one round trip; how many were written."""
        if not self.pending:
            return 0
        batch, self.pending = self.pending, deque(maxlen=self.pending.maxlen)
        raws = [encoded(r) for r in batch]
        try:
            await self.window.push(raws)
        except Exception as exc:  # Redis away: keep the batch before what came meanwhile (bounded), try again later
            if not self._failing:
                log.warning("policy cannot write the change window, keeping the newest entries: %r", exc)
            self._failing = True
            batch.extend(self.pending)
            self.pending = batch
            return 0
        if self._failing:
            log.info("policy writes the change window again")
        self._failing = False
        return len(raws)

    async def run(self, stopping: Callable[[], bool], sleep: Callable[[float], Awaitable[object]]) -> None:
        while not stopping():
            await sleep(FLUSH_S)
            await self.flush()
        await self.flush()


def attach(app: faust.App, writer: WindowWriter) -> None:
    """Run the writer as a task of the worker (from its start to its stop)."""

    @app.task  # type: ignore[untyped-decorator]
    async def write_window() -> None:
        await writer.run(lambda: app.should_stop, app.sleep)
