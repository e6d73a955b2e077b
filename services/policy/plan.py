"""The plan: turns one decision into the events to publish (an ItemDelta per write, one SyncDecision per change).

Pure: no I/O, no clock (`now` is passed), no randomness: event ids derive from the change's event id, so a
replayed change plans the very same events (appliers recognise them as duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.policy.explanation import notes_for
from services.policy.verdict import Decision, TargetDecision
from shared import event_ids, topics
from shared.events import ItemChanged, ItemDelta, SyncDecision


@dataclass(frozen=True)
class Outgoing:
    """One event to publish: the topic, its key, and the event."""

    topic: topics.Topic
    key: str
    event: ItemDelta | SyncDecision


def crm_key(change: ItemChanged) -> str:
    """deltas.crm key: `{entity}:{crm_id}`, or `{entity}:x-{mailbox}:{exchange_id}` before the link exists."""
    if change.crm_id:
        return topics.crm_item_key(change.entity, change.crm_id)
    return f"{change.entity}:x-{change.mailbox}:{change.exchange_id}"


def exchange_key(change: ItemChanged, mailbox: str, exchange_id: str | None) -> str:
    """deltas.exchange key: `{mailbox}:{entity}:{crm_id}`, or `{mailbox}:{entity}:x-{exchange_id}` unlinked."""
    if change.crm_id:
        return topics.exchange_delta_key(mailbox, change.entity, change.crm_id)
    return f"{mailbox}:{change.entity}:x-{exchange_id}"


def delta_for(change: ItemChanged, target: TargetDecision, policy_version: int, now: datetime) -> Outgoing:
    assert target.op is not None  # only writes are planned
    if target.target == "crm":
        topic, key = topics.DELTAS_CRM, crm_key(change)
        # A write-back to CRM (a CRM change that lost a conflict) names the mailbox of the pair it came from.
        mailbox, exchange_id = target.mailbox or change.mailbox, target.exchange_id or change.exchange_id
    else:
        mailbox = target.mailbox or ""
        topic, key = topics.DELTAS_EXCHANGE, exchange_key(change, mailbox, target.exchange_id)
        exchange_id = target.exchange_id
    delta = ItemDelta(
        event_id=event_ids.delta_id(change.event_id, target.target, mailbox),
        occurred_at=change.occurred_at,
        captured_at=change.captured_at,
        source=change.source,
        entity=change.entity,
        op=target.op,
        crm_id=change.crm_id,
        mailbox=mailbox,
        exchange_id=exchange_id,
        changed=dict(target.fields),
        origin=change.origin,
        causation_id=change.event_id,
        target=target.target,
        policy_version=policy_version,
        decided_at=now,
        source_version=change.version,
        keep_item=target.keep_item,
        expected=dict(target.expected),
        acting_user=target.acting_user if target.target == "crm" else None,
    )
    return Outgoing(topic, key, delta)


def plan(change: ItemChanged, decision: Decision, policy_version: int, now: datetime) -> tuple[Outgoing, ...]:
    """Deltas first (one per write or unlink, in target order), then the decision (every field's outcome and a
    note per target), keyed like the CRM side of the item."""
    deltas = tuple(delta_for(change, target, policy_version, now) for target in decision.writes)
    record = SyncDecision(
        event_id=event_ids.decision_id(change.event_id),
        occurred_at=change.occurred_at,
        captured_at=change.captured_at,
        source=change.source,
        entity=change.entity,
        op=change.op,
        crm_id=change.crm_id,
        mailbox=change.mailbox,
        exchange_id=change.exchange_id,
        origin=change.origin,
        causation_id=change.event_id,
        policy_version=policy_version,
        decided_at=now,
        outcomes=decision.outcomes,
        notes=notes_for(decision),
    )
    return (*deltas, Outgoing(topics.DECISIONS, crm_key(change), record))
