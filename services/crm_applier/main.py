"""crm_applier's composition root: settings, Redis, the Web API client, consumer and producer are built here."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from services.crm_applier.attachments import CrmFiles
from services.crm_applier.loop import applier_loop
from services.crm_applier.records import AppliedRecords
from services.crm_applier.reverts import CrmChanges
from services.crm_applier.settings import CrmApplierSettings
from services.crm_applier.writer import CrmWriter
from shared import topics
from shared.attachment_store import AttachmentStore
from shared.catalogue import load_catalogue
from shared.crm.attachments import CrmAttachments
from shared.crm.client import CrmClient, RetryPolicy
from shared.crm.state import CrmState
from shared.kafka import make_consumer, make_producer
from shared.metrics import start_service_metrics
from shared.runtime import serve
from shared.settings import refuse_placeholders

log = logging.getLogger("fieldsync.crm_applier")


async def run(settings: CrmApplierSettings, stop: asyncio.Event) -> None:
    """Start everything, apply until `stop` is set, then close everything (offsets already committed)."""
    refuse_placeholders(settings, settings.crm_client_secret)
    retry = RetryPolicy(
        settings.crm_applier_retry_attempts, settings.crm_applier_retry_base_s, settings.crm_applier_retry_max_s
    )
    metrics, metrics_server = start_service_metrics(settings, "crm_applier")
    client = CrmClient.from_settings(settings, retry=retry, on_retry=lambda status: metrics.retried("crm", status))
    redis = Redis.from_url(settings.redis_url)
    catalogue = load_catalogue()
    producer = make_producer(settings)
    state = CrmState(redis)
    store = AttachmentStore(redis, settings.attachment_max_bytes, settings.attachment_content_ttl_s)
    writer = CrmWriter(client, state, AppliedRecords(redis), catalogue, settings.crm_applier_conflict_retries,
                       reverts=CrmChanges(producer), files=CrmFiles(CrmAttachments(client), store, state))  # fmt: skip
    consumer = make_consumer(
        settings,
        topics.DELTAS_CRM.full_name,
        group_id=settings.crm_applier_group_id,
        session_timeout_ms=settings.crm_applier_session_timeout_ms,
        heartbeat_interval_ms=settings.crm_applier_heartbeat_interval_ms,
    )
    await producer.start()
    await consumer.start()
    try:
        log.info("crm_applier started: group=%s", settings.crm_applier_group_id)
        loop = applier_loop(consumer, producer, writer, catalogue, settings.crm_applier_backoff_max_s,
                            settings.applier_concurrency, settings.dead_letter_after_attempts, metrics)
        await loop.run(stop)
    finally:
        await consumer.stop()
        await producer.stop()
        await client.aclose()
        await redis.aclose()
        metrics_server.stop()
        log.info("crm_applier stopped")


def main() -> None:
    """`python -m services.crm_applier`: run until SIGTERM or SIGINT, then exit 0."""
    serve(run, CrmApplierSettings())
