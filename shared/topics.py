"""The topic registry: every topic's name, key shape and value model, declared once."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "fieldsync."


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    value: str

    @property
    def full_name(self) -> str:
        return PREFIX + self.name


CRM_CHANGES = Topic("crm.changes", "{entity}:{crm_id}", "ItemChanged")
# Keyed like crm.changes (shared.links.merge_key: the CRM record the item is, or would be, linked to), so that
# both sides' changes of one pair reach the policy's merge point on one partition, in order.
EXCHANGE_CHANGES = Topic("exchange.changes", "{entity}:{crm_id}", "ItemChanged")
CRM_SECURITY = Topic("crm.security", "security (one key: one partition, rounds in order)", "SecurityChanged")
POLICY = Topic("policy", "policy", "PolicyChanged")
DELTAS_EXCHANGE = Topic("deltas.exchange", "{mailbox}:{entity}:{crm_id}", "ItemDelta")
DELTAS_CRM = Topic("deltas.crm", "{entity}:{crm_id}", "ItemDelta")
DECISIONS = Topic("decisions", "same as the delta", "SyncDecision")
APPLIED = Topic("applied", "same as the delta", "DeltaApplied")
DEADLETTER = Topic("deadletter", "original key", "original bytes + error headers")

ALL: tuple[Topic, ...] = (
    CRM_CHANGES,
    EXCHANGE_CHANGES,
    CRM_SECURITY,
    POLICY,
    DELTAS_EXCHANGE,
    DELTAS_CRM,
    DECISIONS,
    APPLIED,
    DEADLETTER,
)


def crm_item_key(entity: str, crm_id: str) -> str:
    return f"{entity}:{crm_id}"


def exchange_delta_key(mailbox: str, entity: str, crm_id: str) -> str:
    return f"{mailbox}:{entity}:{crm_id}"
