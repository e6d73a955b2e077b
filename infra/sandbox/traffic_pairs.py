"""Paired edits for the traffic generator: one field of one linked record changed on both sides within a second.

A linked pair is a CRM record and the mailbox item fieldsync keeps in sync with it; the caller names the pairs
(fieldsync's links say which they are: the sandboxes do not know). A paired edit PATCHes the field in CRM and
updates the same field of the item through EWS, the second request sent a random moment (under `gap_s`) after
the first, the side that goes first picked at random: the two changes are concurrent for the merge point,
which must record a conflict between them or see one made on top of the other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from infra.sandbox.traffic_crm import CRM_FIELDS, CrmSide, CrmTarget
from infra.sandbox.traffic_exchange import EXCHANGE_FIELDS, ExchangeSide, ExchangeTarget


@dataclass(frozen=True)
class LinkedPair:
    """A CRM record and its item in one mailbox."""

    entity: str
    crm_id: str
    mailbox: str
    exchange_id: str


@dataclass(frozen=True)
class PairedEdit:
    """What one paired edit changes: the record, the item, the canonical field and its EWS attribute."""

    crm: CrmTarget
    exchange: ExchangeTarget
    field: str
    attribute: str


def paired_fields() -> dict[str, dict[str, str]]:
    """Entity -> canonical field -> EWS attribute, for the fields both halves of the generator change."""
    crm = {entity: set(fields) for entity, _, fields in CRM_FIELDS.values()}
    return {
        entity: {key: attribute for attribute, key in sorted(attributes.items()) if key in crm.get(entity, ())}
        for entity, _, attributes in EXCHANGE_FIELDS.values()
    }


def slot_share(two_sided_share: float) -> float:
    """The share of the schedule's slots that start a paired edit, so that `two_sided_share` of the changes are
    one half of one: a paired edit takes two slots (its two changes), so s of the changes needs s / (2 - s)."""
    if not 0.0 <= two_sided_share <= 1.0:
        raise ValueError("two_sided_share must be within 0..1")
    return two_sided_share / (2.0 - two_sided_share)


class PairPicker:
    """The pairs both halves listed when they opened (the others cannot be edited on both sides), picked at random."""

    def __init__(self, pairs: list[LinkedPair], crm: CrmSide, exchange: ExchangeSide) -> None:
        records = {t.record_id: t for t in crm.targets}
        items = {(t.mailbox.lower(), t.item_id): t for t in exchange.targets}
        fields = paired_fields()
        self.edits: list[tuple[CrmTarget, ExchangeTarget, dict[str, str]]] = []
        for pair in pairs:
            record, item = records.get(pair.crm_id), items.get((pair.mailbox.lower(), pair.exchange_id))
            if record is not None and item is not None and fields.get(pair.entity):
                self.edits.append((record, item, fields[pair.entity]))

    def pick(self, rng: random.Random) -> PairedEdit:
        record, item, fields = rng.choice(self.edits)
        key = rng.choice(sorted(fields))
        return PairedEdit(record, item, key, fields[key])
