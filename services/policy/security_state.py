"""The security the policy decides under: the tables of the last complete round, in Redis and as a model in memory.

Loop-level (thin, no rules). The security agent (app.py) hands every SecurityChanged to `on_event`: its row is
staged in Redis; the round's last event moves the round into the tables and rebuilds the model (security.py).
Workers that do not own the crm.security partition follow the round stored in Redis (`follow`, on the refresh
timer, and while a change waits).

What is decided before the tables are known: nothing. With no complete round (fieldsync deployed against a
CRM whose security it has not read yet, or a Redis that lost it), the model would know no user, no role and
no secured attribute: deciding as "security off" would send every secured field to every mailbox, and acting
as the service principal would let every Outlook edit through. So every change, in both directions, waits:
`ready` polls (memory, then the round stored in Redis) until a round is known, and raises `SecurityPending`,
a transient failure, after `wait_s`: the policy's retry loop (app.until_done) then tries the same change again
with backoff, forever, without acking it. The partition stalls, visibly in the consumer lag and in the log,
until crm_capture has published a first round; nothing leaks meanwhile. A change re-published because
security changed (context `security_round` N) waits the same way for round N, so that it is decided under
the tables that made it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.policy.security import Security
from services.policy.security_model import Tables, build
from services.policy.security_store import SecurityStore
from shared.events import SecurityChanged

log = logging.getLogger("fieldsync.policy")
POLL_S = 0.05  # how often a waiting change looks again


class SecurityPending(Exception):
    """The security tables are not known up to the round a change needs (yet): retry later."""

    transient = True  # shared.failures: retried with backoff, never dead-lettered


class SecurityState:
    def __init__(self, store: SecurityStore, wait_s: float = 10.0) -> None:
        self.store = store
        self.wait_s = wait_s
        self.tables = Tables()
        self.security: Security | None = None  # None until a complete round is known
        self._skipped = 0  # the last round skipped as already stored

    @property
    def round(self) -> int:
        return self.security.round if self.security else 0

    def install(self, tables: Tables, round_: int) -> None:
        self.tables = tables
        self.security = Security(build(tables, round_)) if round_ > 0 else None

    async def load(self) -> None:
        """The tables as of the last complete round in Redis (on start; nothing before the first round)."""
        tables, round_ = await self.store.load()
        self.install(tables, round_)

    async def follow(self) -> bool:
        """Reload when Redis holds a newer complete round (another worker received it); True if it did."""
        if await self.store.stored_round() <= self.round:
            return False
        await self.load()
        return True

    async def on_event(self, event: SecurityChanged) -> None:
        """Stage one row change; the round's last event makes the round the one decided under."""
        stored = max(self.round, await self.store.stored_round())
        if event.round and event.round < stored:
            # A replay of a round already stored (a restart re-reads the uncommitted tail): its rows are in. Said
            # once per round: rounds that keep coming below the stored one mean the capture numbers afresh.
            if event.round != self._skipped:
                log.warning("policy skips security round %d: round %d is stored", event.round, stored)
                self._skipped = event.round
            return
        await self.store.stage(event)
        if event.last_in_round:
            if stored > self.round:
                await self.load()
            tables = await self.store.complete(self.tables, event.round)
            self.install(tables, event.round)
            log.info("policy decides under security round %d", event.round)

    async def ready(self, round_: int = 1) -> Security:
        """The security to decide under, once round `round_` (at least the first) is complete."""
        wanted = max(round_, 1)
        deadline = time.monotonic() + self.wait_s
        while True:
            if self.security is not None and self.security.round >= wanted:
                return self.security
            if await self.follow():
                continue
            if time.monotonic() >= deadline:
                raise SecurityPending(f"security round {wanted} is not known yet (have {self.round})")
            await asyncio.sleep(POLL_S)
