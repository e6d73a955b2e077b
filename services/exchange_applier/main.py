"""exchange_applier's composition root: settings, Redis, the EWS client, consumer and producer are built here."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from services.exchange_applier.attachments import ExchangeFiles
from services.exchange_applier.loop import applier_loop
from services.exchange_applier.records import AppliedRecords
from services.exchange_applier.settings import ExchangeApplierSettings
from services.exchange_applier.writer import ExchangeWriter
from shared import topics
from shared.attachment_store import AttachmentStore
from shared.exchange.attachments import ExchangeAttachments
from shared.exchange.client import ExchangeClient
from shared.exchange.state import ExchangeState
from shared.kafka import make_consumer, make_producer
from shared.metrics import Metrics, failure_status, start_service_metrics
from shared.runtime import serve
from shared.settings import refuse_placeholders

log = logging.getLogger("fieldsync.exchange_applier")


def build_writer(
    settings: ExchangeApplierSettings, client: ExchangeClient, redis: Redis, metrics: Metrics | None = None
) -> ExchangeWriter:
    state = ExchangeState(redis)
    store = AttachmentStore(redis, settings.attachment_max_bytes, settings.attachment_content_ttl_s)
    return ExchangeWriter(
        client,
        state,
        AppliedRecords(redis),
        retry_attempts=settings.exchange_applier_retry_attempts,
        retry_base_s=settings.exchange_applier_retry_base_s,
        retry_max_s=settings.exchange_applier_retry_max_s,
        conflict_retries=settings.exchange_applier_conflict_retries,
        on_retry=(lambda exc: metrics.retried("exchange", failure_status(exc))) if metrics else None,
        files=ExchangeFiles(ExchangeAttachments(client), store, state),
    )


async def run(settings: ExchangeApplierSettings, stop: asyncio.Event) -> None:
    """Start everything, apply until `stop` is set, then close everything (offsets already committed)."""
    refuse_placeholders(settings, settings.ews_password)
    metrics, metrics_server = start_service_metrics(settings, "exchange_applier")
    client = ExchangeClient(settings)
    redis = Redis.from_url(settings.redis_url)
    consumer = make_consumer(settings, topics.DELTAS_EXCHANGE.full_name, group_id=settings.exchange_applier_group_id)
    producer = make_producer(settings)
    await producer.start()
    await consumer.start()
    try:
        log.info("exchange_applier started: group=%s", settings.exchange_applier_group_id)
        writer = build_writer(settings, client, redis, metrics)
        loop = applier_loop(consumer, producer, writer, settings.exchange_applier_backoff_max_s,
                            settings.applier_concurrency, settings.dead_letter_after_attempts, metrics)
        await loop.run(stop)
    finally:
        await consumer.stop()
        await producer.stop()
        await client.close()
        await redis.aclose()
        metrics_server.stop()
        log.info("exchange_applier stopped")


def main() -> None:
    """`python -m services.exchange_applier`: run until SIGTERM or SIGINT, then exit 0."""
    serve(run, ExchangeApplierSettings())
