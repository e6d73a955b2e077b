"""crm_capture's composition root: settings, Redis, the Web API client and the producer are built only here."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.crm_capture.attachment_index import AttachmentIndex
from services.crm_capture.loop import CaptureLoop
from services.crm_capture.owners import OwnerMailboxes
from services.crm_capture.security_loop import SecurityCapture
from services.crm_capture.security_reader import WebApiSecurity
from services.crm_capture.security_store import SecurityStore
from services.crm_capture.settings import CrmCaptureSettings
from services.crm_capture.templates import TemplateCopier
from shared.attachment_store import AttachmentStore
from shared.catalogue import load_catalogue
from shared.crm.attachments import CrmAttachments
from shared.crm.client import CrmClient
from shared.crm.state import CrmState
from shared.kafka import make_producer
from shared.metrics import Metrics, start_service_metrics
from shared.pacing import Pacer
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
        files=_files(settings, client, redis),
    )


def _files(settings: CrmCaptureSettings, client: CrmClient, redis: Redis) -> AttachmentIndex | None:
    if not settings.crm_capture_attachments:
        return None
    store = AttachmentStore(redis, settings.attachment_max_bytes, settings.attachment_content_ttl_s)
    return AttachmentIndex(CrmAttachments(client), store, redis)


def build_security(
    settings: CrmCaptureSettings, loop: CaptureLoop, redis: Redis, producer: AIOKafkaProducer
) -> SecurityCapture | None:
    """The security capture beside the record loop (sharing its lock and its snapshots), unless switched off."""
    if not settings.crm_capture_security_enabled:
        return None
    synced = frozenset(spec.name for spec in loop.specs)
    return SecurityCapture(
        source=WebApiSecurity(loop.client, synced),
        store=SecurityStore(redis),
        records=loop.state,
        producer=producer,
        synced=synced,
        lock=loop.lock,
        interval_s=settings.crm_capture_security_interval_s,
        backoff_cap_s=settings.crm_capture_backoff_max_s,
        metrics=loop.metrics,
        templates=TemplateCopier(loop.client, redis),
    )


async def capture(loop: CaptureLoop, security: SecurityCapture | None, stop: asyncio.Event) -> None:
    """The first security round, then the record loop and the security rounds side by side until `stop`."""
    if security is None:
        await loop.run(stop)
        return
    await security.attempt(Pacer(security.interval_s, security.backoff_cap_s))
    await asyncio.gather(loop.run(stop), security.run(stop))


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
        security = build_security(settings, loop, redis, producer)
        log.info("crm_capture started: entities=%s, security=%s", ",".join(s.name for s in loop.specs),
                 f"every {settings.crm_capture_security_interval_s}s" if security else "off")  # fmt: skip
        await capture(loop, security, stop)
    finally:
        await producer.stop()
        await client.aclose()
        await redis.aclose()
        metrics_server.stop()
        log.info("crm_capture stopped")


def main() -> None:
    """`python -m services.crm_capture`: run until SIGTERM or SIGINT, then exit 0."""
    serve(run, CrmCaptureSettings())
