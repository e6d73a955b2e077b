"""Where the crm_applier publishes the change that brings a mailbox back after a refused write: crm.changes."""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaProducer

from shared import topics
from shared.events import ItemChanged
from shared.kafka import encode


class ChangePublisher(Protocol):
    """Publishes one ItemChanged and returns once the broker acked it."""

    async def publish(self, event: ItemChanged) -> None: ...


class CrmChanges:
    """crm.changes under the record's key, as crm_capture publishes: the policy sees it in the record's order."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def publish(self, event: ItemChanged) -> None:
        key = topics.crm_item_key(event.entity, str(event.crm_id))
        await self.producer.send_and_wait(topics.CRM_CHANGES.full_name, encode(event), key=key)
