"""The applier loop: deltas.crm delivered (shared.delivery) to the Web API through CrmWriter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.crm_applier.apply import applied_event, validate
from services.crm_applier.writer import CrmWriter, Outcome
from shared.catalogue import Catalogue
from shared.crm.client import CrmError, Unavailable
from shared.delivery import DeliveryLoop
from shared.events import DeltaApplied, ItemDelta
from shared.metrics import Metrics
from shared.update_plan import superseded_note

SERVICE = "crm_applier"


@dataclass(frozen=True)
class CrmTarget:
    """CRM as the delivery loop's target: catalogue validation, CrmWriter's writes, results with the CRM id."""

    writer: CrmWriter
    catalogue: Catalogue
    service: str = SERVICE
    # CrmError is permanent (4xx) except Unavailable (429/503/no answer beyond the client's short retries):
    # an outage, retried by the delivery loop until CRM is back rather than dead-lettering every delta.
    permanent: tuple[type[Exception], ...] = (CrmError,)
    transient: tuple[type[Exception], ...] = (Unavailable,)

    def validate(self, delta: ItemDelta) -> str | None:
        return validate(delta, self.catalogue)

    async def write(self, delta: ItemDelta) -> Outcome:
        return await self.writer.apply(delta)

    def applied(
        self, delta: ItemDelta, outcome: Outcome | None, *, event_id: str, applied_at: datetime, error: str | None
    ) -> DeltaApplied:
        if outcome is None:
            return applied_event(
                delta, event_id=event_id, result="failed", applied_at=applied_at, crm_id=delta.crm_id, error=error
            )
        return applied_event(
            delta,
            event_id=event_id,
            result=outcome.result,
            applied_at=applied_at,
            crm_id=outcome.crm_id,
            written=outcome.written,
            written_version=outcome.version,
            error="; ".join(n for n in (outcome.note, superseded_note(outcome.superseded)) if n) or None,
        )


def applier_loop(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, writer: CrmWriter, catalogue: Catalogue,
    backoff_cap_s: float = 30.0, concurrency: int = 16, max_attempts: int = 3, metrics: Metrics | None = None,
) -> DeliveryLoop[Outcome]:
    """The loop main.py runs: consume deltas.crm in key order, write, publish DeltaApplied, then commit."""
    return DeliveryLoop(consumer, producer, CrmTarget(writer, catalogue), backoff_cap_s, concurrency, max_attempts,
                        metrics=metrics or Metrics())
