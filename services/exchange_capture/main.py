"""exchange_capture's composition root: settings, Redis, the EWS and CRM clients and the producer are built here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.exchange_capture.files import ItemFiles
from services.exchange_capture.loop import CaptureLoop
from services.exchange_capture.settings import ExchangeCaptureSettings
from shared.attachment_store import AttachmentStore
from shared.crm.client import CrmClient, CrmError
from shared.exchange import fields as exchange_fields
from shared.exchange.attachments import ExchangeAttachments
from shared.exchange.client import ExchangeClient
from shared.exchange.state import ExchangeState
from shared.kafka import make_producer
from shared.mailbox_health import MailboxHealthStore
from shared.metrics import Metrics, start_service_metrics
from shared.runtime import serve
from shared.settings import refuse_placeholders

log = logging.getLogger("fieldsync.exchange_capture")


async def application_user(crm: CrmClient) -> str | None:
    """The systemuser fieldsync acts as in CRM (no mailbox: it is not a person), or None if WhoAmI fails."""
    try:
        return await crm.who_am_i()
    except CrmError as exc:
        log.warning("WhoAmI failed (%s): the application user is not left out of the mailboxes", exc)
        return None


def mailbox_source(settings: ExchangeCaptureSettings, crm: CrmClient | None) -> Callable[[], Awaitable[list[str]]]:
    """FIELDSYNC_MAILBOXES when set; otherwise every enabled CRM systemuser's internalemailaddress but our own."""
    fixed = settings.mailbox_list()

    async def from_crm() -> list[str]:
        if crm is None:
            return fixed
        own = await application_user(crm)
        users = await crm.query("systemusers", select=["systemuserid", "internalemailaddress", "isdisabled"])
        return sorted({str(u["internalemailaddress"]).lower() for u in users
                       if u.get("internalemailaddress") and not u.get("isdisabled")
                       and str(u.get("systemuserid", "")).lower() != own})

    return from_crm


def build_loop(
    settings: ExchangeCaptureSettings,
    client: ExchangeClient,
    redis: Redis,
    producer: AIOKafkaProducer,
    crm: CrmClient | None,
    metrics: Metrics | None = None,
) -> CaptureLoop:
    for entity in settings.exchange_capture_entities:
        if entity not in exchange_fields.CODECS:
            raise ValueError(f"FIELDSYNC_EXCHANGE_CAPTURE_ENTITIES names an entity without a mapping: {entity!r}")
    return CaptureLoop(
        client=client,
        state=ExchangeState(redis),
        producer=producer,
        mailboxes=mailbox_source(settings, crm),
        entities=list(settings.exchange_capture_entities),
        poll_interval_s=settings.exchange_capture_poll_interval_s,
        backoff_cap_s=settings.exchange_capture_backoff_max_s,
        mailbox_refresh_s=settings.exchange_capture_mailbox_refresh_s,
        concurrency=settings.exchange_capture_concurrency,
        page_size=settings.exchange_capture_page_size,
        metrics=metrics or Metrics(),
        health=MailboxHealthStore(redis),
        files=_files(settings, client, redis),
    )


def _files(settings: ExchangeCaptureSettings, client: ExchangeClient, redis: Redis) -> ItemFiles | None:
    if not settings.exchange_capture_attachments:
        return None
    store = AttachmentStore(redis, settings.attachment_max_bytes, settings.attachment_content_ttl_s)
    return ItemFiles(ExchangeAttachments(client), store)


async def run(settings: ExchangeCaptureSettings, stop: asyncio.Event) -> None:
    """Start everything, capture until `stop` is set, then close everything (sync states already committed)."""
    refuse_placeholders(settings, settings.ews_password)
    metrics, metrics_server = start_service_metrics(settings, "exchange_capture")
    crm = None
    if not settings.mailbox_list():
        refuse_placeholders(settings, settings.crm_client_secret)
        crm = CrmClient.from_settings(settings)
    client = ExchangeClient(settings)
    redis = Redis.from_url(settings.redis_url)
    producer = make_producer(settings)
    await producer.start()
    try:
        loop = build_loop(settings, client, redis, producer, crm, metrics)
        log.info("exchange_capture started: mailboxes from %s", "settings" if crm is None else "CRM systemusers")
        await loop.run(stop)
    finally:
        await producer.stop()
        await client.close()
        if crm is not None:
            await crm.aclose()
        await redis.aclose()
        metrics_server.stop()
        log.info("exchange_capture stopped")


def main() -> None:
    """`python -m services.exchange_capture`: run until SIGTERM or SIGINT, then exit 0."""
    serve(run, ExchangeCaptureSettings())
