"""Replay: one recorded change decided again, under any policy, from the facts it was decided on.

Pure: no I/O, no clock (the entry's decision time is the replay's `now`), no logging. The same path as the
handler's (decide, then the merge point), over the facts the change window kept (shared.change_window): links,
both sides' last known values, untracked marks, the pairs' agreed values, and the security answers it was decided
under (recorded_security.Replayed; what it never asked, from `fallback`). Nothing it returns is published: the
preview compares the decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from services.policy.decide import decide
from services.policy.merge import FieldState
from services.policy.reconcile import PairStates, reconcile
from services.policy.recorded_security import Replayed
from services.policy.security import Security
from services.policy.verdict import Decision, Facts
from shared.catalogue import Catalogue
from shared.change_window import AgreedField, AgreedPair, DecisionFacts, SecurityFacts, WindowEntry
from shared.events import ItemChanged, Policy, System
from shared.exchange import fields as exchange_fields


def stored_as(entity: str) -> Callable[[System, str, Any], Any]:
    """How each side stores a value of this entity's fields: Exchange keeps some lossily, CRM as written."""

    def stored(side: System, key: str, value: Any) -> Any:
        return exchange_fields.stored_as(entity, key, value) if side == "exchange" else value

    return stored


def facts_of(recorded: DecisionFacts) -> Facts:
    return Facts(
        links=recorded.links, crm_values=recorded.crm_values, exchange_values=recorded.exchange_values,
        untracked=frozenset(recorded.untracked),
    )  # fmt: skip


def states_of(entity: str, recorded: DecisionFacts) -> PairStates:
    return {
        (entity, pair.crm_id, pair.mailbox): {key: _state(f) for key, f in pair.fields.items()}
        for pair in recorded.agreed
    }


def _state(recorded: AgreedField) -> FieldState:
    return FieldState(recorded.agreed, recorded.at, recorded.side, dict(recorded.held))


def agreed_of(states: PairStates, carried: Collection[str]) -> tuple[AgreedPair, ...]:
    """The pairs' states as the window keeps them (the inverse of states_of): the fields the change carried, the
    only ones the merge point reads."""
    return tuple(
        AgreedPair(crm_id=crm_id, mailbox=mailbox, fields={
            key: AgreedField(agreed=s.agreed, at=s.at, side=s.side, held=dict(s.held))
            for key, s in fields.items() if key in carried
        })
        for (_entity, crm_id, mailbox), fields in states.items()
    )  # fmt: skip


def entry_of(
    change: ItemChanged, facts: Facts, states: PairStates, security: SecurityFacts, policy_version: int, now: datetime
) -> WindowEntry:
    """The change and what it was decided on, as the change window keeps it (the inverse of facts_of, states_of)."""
    recorded = DecisionFacts(
        links=dict(facts.links), crm_values=dict(facts.crm_values),
        exchange_values={m: dict(v) for m, v in facts.exchange_values.items()},
        untracked=tuple(sorted(facts.untracked)), agreed=agreed_of(states, change.changed), security=security,
    )  # fmt: skip
    return WindowEntry(change=change, decided_at=now, policy_version=policy_version, facts=recorded)


def replay(entry: WindowEntry, catalogue: Catalogue, policy: Policy, fallback: Security | None = None) -> Decision:
    """The decision `policy` makes of the recorded change, after the merge point (what would be written)."""
    change, recorded = entry.change, entry.facts
    security = Replayed(recorded.security, fallback) if recorded.security.round else None
    decision = decide(change, catalogue.entity(change.entity), policy, facts_of(recorded), entry.decided_at, security)
    rule = policy.conflict_rule(change.entity)
    return reconcile(change, decision, states_of(change.entity, recorded), rule, stored_as(change.entity)).decision
