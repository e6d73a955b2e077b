"""crm_capture's composition root: settings, Redis, the Web API client and the producer are built only here."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.crm_capture.loop import CaptureLoop
from services.crm_capture.owners import OwnerMailboxes
from services.crm_capture.settings import CrmCaptureSettings
from services.crm_capture.state import CrmState
from shared.catalogue import load_catalogue
from shared.clients.crm import CrmClient
from shared.kafka import make_producer
from shared.metrics import Metrics, start_service_metrics
from shared.runtime import serve
from shared.settings import refuse_placeholders

log = logging.getLogger("fieldsync.crm_capture")


def build_loop(
    settings: CrmCaptureSettings, client: CrmClient, redis: Redis, producer: AIOKafkaProducer,
    metrics: Metrics | None = None,
) -> CaptureLoop:
    catalogue = load_catalogue()
    specs = []
    for name in settings.crm_capture_entities:
        spec = catalogue.entity(name)
        if spec is None:
            raise ValueError(f"FIELDSYNC_CRM_CAPTURE_ENTITIES names an unknown entity: {name!r}")
        specs.append(spec)
    return CaptureLoop(
        client=client,
        state=CrmState(redis),
        producer=producer,
        owners=OwnerMailboxes(client),
        specs=specs,
        poll_interval_s=settings.crm_capture_poll_interval_s,
        backoff_cap_s=settings.crm_capture_backoff_max_s,
        metrics=metrics or Metrics(),
    )


async def run(settings: CrmCaptureSettings, stop: asyncio.Event) -> None:
    """Start everything, capture until `stop` is set, then close everything (cursor already committed)."""
    refuse_placeholders(settings, settings.crm_client_secret)
    metrics, metrics_server = start_service_metrics(settings, "crm_capture")
    client = CrmClient.from_settings(settings, on_retry=lambda status: metrics.retried("crm", status))
    redis = Redis.from_url(settings.redis_url)
    producer = make_producer(settings)
    await producer.start()
    try:
        loop = build_loop(settings, client, redis, producer, metrics)
        log.info("crm_capture started: entities=%s", ",".join(s.name for s in loop.specs))
        await loop.run(stop)
    finally:
        await producer.stop()
        await client.aclose()
        await redis.aclose()
        metrics_server.stop()
        log.info("crm_capture stopped")


def main() -> None:
    """`python -m services.crm_capture`: run until SIGTERM or SIGINT, then exit 0."""
    serve(run, CrmCaptureSettings())
