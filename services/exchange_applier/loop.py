"""The applier loop: deltas.exchange delivered (shared.delivery) to mailboxes through ExchangeWriter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.exchange_applier.apply import applied_event, validate
from services.exchange_applier.writer import ExchangeWriter, Outcome
from shared.delivery import DeliveryLoop
from shared.events import DeltaApplied, ItemDelta
from shared.exchange.errors import ExchangeError, Transient
from shared.metrics import Metrics
from shared.update_plan import superseded_note

SERVICE = "exchange_applier"


@dataclass(frozen=True)
class ExchangeTarget:
    """Mailboxes as the delivery loop's target: EWS mapping validation, ExchangeWriter's writes (ChangeKey)."""

    writer: ExchangeWriter
    service: str = SERVICE
    # ExchangeError is permanent except Transient (busy/unavailable beyond the writer's short retries):
    # an outage, retried by the delivery loop until EWS is back rather than dead-lettering every delta.
    permanent: tuple[type[Exception], ...] = (ExchangeError,)
    transient: tuple[type[Exception], ...] = (Transient,)

    def validate(self, delta: ItemDelta) -> str | None:
        return validate(delta)

    async def write(self, delta: ItemDelta) -> Outcome:
        return await self.writer.apply(delta)

    def applied(
        self, delta: ItemDelta, outcome: Outcome | None, *, event_id: str, applied_at: datetime, error: str | None
    ) -> DeltaApplied:
        if outcome is None:
            return applied_event(
                delta, event_id=event_id, result="failed", applied_at=applied_at, exchange_id=None, error=error
            )
        return applied_event(
            delta,
            event_id=event_id,
            result=outcome.result,
            applied_at=applied_at,
            exchange_id=outcome.exchange_id,
            written=outcome.written,
            written_version=outcome.version,
            error=superseded_note(outcome.superseded) or outcome.note,
        )


def applier_loop(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, writer: ExchangeWriter, backoff_cap_s: float = 30.0,
    concurrency: int = 16, max_attempts: int = 3, metrics: Metrics | None = None,
) -> DeliveryLoop[Outcome]:
    """The loop main.py runs: consume deltas.exchange in key order, write, publish DeltaApplied, then commit."""
    return DeliveryLoop(consumer, producer, ExchangeTarget(writer), backoff_cap_s, concurrency, max_attempts,
                        metrics=metrics or Metrics())
