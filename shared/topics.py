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
EXCHANGE_CHANGES = Topic("exchange.changes", "{mailbox}:{exchange_id}", "ItemChanged")
CRM_SECURITY = Topic("crm.security", "principal or record id", "SecurityChanged")
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


def exchange_item_key(mailbox: str, exchange_id: str) -> str:
    return f"{mailbox}:{exchange_id}"


def exchange_delta_key(mailbox: str, entity: str, crm_id: str) -> str:
    return f"{mailbox}:{entity}:{crm_id}"
