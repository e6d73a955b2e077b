"""The policy handler: parses events at the edge, gathers facts from Redis, calls the pure rules, returns events.

Transport-agnostic: the faust agents (app.py) call it and publish what it returns. It owns the current
policy and switches it in place to the one in the store whenever a PolicyChanged arrives or the refresh
timer ticks. The store is the authority, the event the doorbell: a replayed PolicyChanged, or one left on
the topic by a store that was since wiped or reset, can neither roll the policy back nor pin it.
It also keeps the one piece of state the rules ask for: which linked mailbox items are untracked
(`redis_keys.untracked`), set or cleared as a decision says, before its events are published (a replayed
change decides the same way: the categories it carries say the same). And it decides under the security of
the last complete round of the CRM security tables (security_state.py), which it waits for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from services.policy.agreed import AgreedValues
from services.policy.decide import decide
from services.policy.plan import Outgoing, plan
from services.policy.reconcile import Reconciled, conflict_records, pairs_of, reconcile
from services.policy.recorded_security import Recording
from services.policy.replay import stored_as
from services.policy.security_state import SecurityState
from services.policy.security_store import SecurityStore
from services.policy.verdict import Facts
from services.policy.window_writer import Recorded, WindowWriter
from shared import redis_keys
from shared.catalogue import Catalogue
from shared.events import TRACKABLE, ConflictRecord, ItemChanged, Policy, PolicyChanged, SecurityChanged
from shared.link_store import LinkStore
from shared.policy_store import PolicyStore


class InvalidEvent(Exception):
    """A payload that is not a valid event: it goes to the dead-letter topic with this reason."""


def _decode_hash(raw: dict[Any, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        try:
            values[name] = json.loads(value)
        except (TypeError, ValueError):
            continue  # not a JSON field value: not a fact the rules can use
    return values


class ConflictSink(Protocol):
    """Where conflicts are recorded (shared.conflict_log.ConflictLog): queued into the change's transaction."""

    def queue(self, pipe: Pipeline, records: Sequence[ConflictRecord]) -> None: ...


@dataclass(frozen=True)
class Planned:
    """What one change leads to: the events to publish, then (commit) the merge state and conflicts to store."""

    outgoing: tuple[Outgoing, ...]
    reconciled: Reconciled | None = None
    conflicts: tuple[ConflictRecord, ...] = ()
    recorded: Recorded | None = None  # the change and its facts, for the change window


class PolicyHandler:
    def __init__(
        self,
        redis: Redis,
        catalogue: Catalogue,
        clock: Callable[[], datetime],
        conflicts: ConflictSink,
        security: SecurityState | None = None,
        window: WindowWriter | None = None,
    ) -> None:
        self.redis = redis
        self.security = security or SecurityState(SecurityStore(redis))
        self.store = PolicyStore(redis)
        self.agreed = AgreedValues(redis)
        self.conflicts = conflicts
        self.window = window
        self.catalogue = catalogue
        self.clock = clock
        self.policy: Policy | None = None

    async def start(self) -> Policy:
        """Load the stored policy (seeding the catalogue defaults on the very first start) and the security tables."""
        await self.security.load()
        await self.refresh()
        assert self.policy is not None  # refresh always loads one
        return self.policy

    async def refresh(self) -> bool:
        """Run the stored policy (seeded if the store is empty); True when it differs from the running one."""
        stored = await self.store.load_or_seed(self.catalogue, self.clock())
        if stored == self.policy:
            return False
        self.policy = stored
        return True

    async def on_policy(self, raw: bytes | None) -> bool:
        """A PolicyChanged from the bus: switch in place to the stored policy. Raises InvalidEvent.

        The admin API stores a change before it publishes it, so the store holds at least the event's version.
        """
        try:
            PolicyChanged.model_validate_json(raw or b"")
        except ValidationError as exc:
            raise InvalidEvent(f"invalid PolicyChanged: {exc}") from exc
        return await self.refresh()

    async def on_security(self, raw: bytes | None) -> None:
        """One SecurityChanged: staged, and at its round's end decided under. Raises InvalidEvent."""
        try:
            event = SecurityChanged.model_validate_json(raw or b"")
        except ValidationError as exc:
            raise InvalidEvent(f"invalid SecurityChanged: {exc}") from exc
        await self.security.on_event(event)

    async def on_change(self, raw: bytes | None) -> Planned:
        """One ItemChanged: the deltas and the decision to publish, and what to commit after. Raises InvalidEvent.

        The merge point (reconcile.py) runs here: both sides' changes of one pair arrive on one partition (the
        captures key them alike, shared.links), so this worker decides them one after another."""
        try:
            change = ItemChanged.model_validate_json(raw or b"")
        except ValidationError as exc:
            raise InvalidEvent(f"invalid ItemChanged: {exc}") from exc
        if change.source.system == "crm" and not change.crm_id:
            raise InvalidEvent("a CRM change without crm_id")
        if change.source.system == "exchange" and not (change.mailbox and change.exchange_id):
            raise InvalidEvent("an Exchange change without mailbox and exchange_id")
        policy = self.policy or await self.start()
        # Nothing is decided before the security tables are known (security_state.py); a refresh waits for the
        # round that made it. Raises SecurityPending (transient: retried) when they do not come in time.
        needed = change.context.get("security_round") if change.source.system == "crm" else None
        security = await self.security.ready(needed if isinstance(needed, int) else 1)
        facts = await self.facts(change)
        now = self.clock()
        asked = Recording(security) if self._records(change) else security
        decision = decide(change, self.catalogue.entity(change.entity), policy, facts, now, asked)
        if decision.tracking and change.mailbox and change.exchange_id:
            key = redis_keys.untracked(change.mailbox, change.exchange_id)
            if decision.tracking == "untrack":
                await self.redis.set(key, f"{change.entity}:{change.crm_id}")
            else:
                await self.redis.delete(key)
        rule = policy.conflict_rule(change.entity)
        states = await self.agreed.load(pairs_of(change, decision))
        reconciled = reconcile(change, decision, states, rule, stored_as(change.entity))
        records = conflict_records(change, reconciled, rule, policy.version, now)
        recorded = None
        if isinstance(asked, Recording):  # what the window keeps: the change and the facts it was decided on
            recorded = Recorded(change, facts, states, asked.facts(), policy.version, now)
        return Planned(plan(change, reconciled.decision, policy.version, now), reconciled, tuple(records), recorded)

    def _records(self, change: ItemChanged) -> bool:
        """Whether the change goes into the window: a person's change (fieldsync's echoes decide nothing anyway)."""
        return self.window is not None and self.window.window.enabled and change.origin != "fieldsync"

    async def commit(self, planned: Planned) -> None:
        """After the change's events were published: its pairs' new state and its conflicts, in one transaction.

        A crash before this replays the change against the old state, which plans the same events (the
        appliers drop the repeats); after it, a replay finds its values agreed and plans nothing new."""
        if planned.reconciled is None:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            reconciled = planned.reconciled
            self.agreed.queue(pipe, reconciled.updates, reconciled.fresh, reconciled.forgotten)
            if planned.conflicts:
                self.conflicts.queue(pipe, planned.conflicts)
            await pipe.execute()
        if planned.recorded is not None and self.window is not None:
            self.window.add(planned.recorded)  # encoded and written in batches (window_writer.py)

    async def facts(self, change: ItemChanged) -> Facts:
        """Links, last known values on both sides (snapshots are JSON per field in a hash), untracked marks."""
        links: dict[str, str] = {}
        crm_values: dict[str, Any] = {}
        if change.crm_id:
            links = await LinkStore(self.redis).of_record(change.entity, change.crm_id)
            crm_values = _decode_hash(await self.redis.hgetall(redis_keys.crm_snapshot(change.entity, change.crm_id)))
        items = dict(links)
        if change.mailbox and change.exchange_id:
            items[change.mailbox] = change.exchange_id
        exchange_values = {
            mailbox: _decode_hash(await self.redis.hgetall(redis_keys.exchange_snapshot(mailbox, exchange_id)))
            for mailbox, exchange_id in items.items()
        }
        untracked: frozenset[str] = frozenset()
        if change.entity in TRACKABLE and items:
            marks = await self.redis.mget([redis_keys.untracked(m, x) for m, x in items.items()])
            untracked = frozenset(m for m, mark in zip(items, marks, strict=True) if mark is not None)
        return Facts(links=links, crm_values=crm_values, exchange_values=exchange_values, untracked=untracked)

