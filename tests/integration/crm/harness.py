"""Helpers of the CRM-side integration tests: deltas to send, service settings, event waits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from infra.sandbox.crm.server import CrmSandboxUrls
from services.crm_applier.settings import CrmApplierSettings
from services.crm_capture.main import run as run_capture
from services.crm_capture.settings import CrmCaptureSettings
from shared import redis_keys, topics
from shared.events import DeltaApplied, ItemChanged, ItemDelta, Source
from shared.kafka import encode
from tests.integration.harness import run_service
from tests.support import eventually_async


def applier_settings(urls: CrmSandboxUrls, kafka_bootstrap: str, redis_url: str) -> CrmApplierSettings:
    return CrmApplierSettings(
        bootstrap_servers=kafka_bootstrap,
        redis_url=redis_url,
        crm_base_url=urls.api_url,
        crm_token_url=urls.token_url,
        crm_applier_group_id=f"crm-applier-{uuid.uuid4()}",
        crm_applier_retry_attempts=2,
        crm_applier_retry_base_s=0.01,
        crm_applier_retry_max_s=0.05,
        crm_applier_backoff_max_s=1.0,
        crm_applier_session_timeout_ms=2000,  # the group join takes half of it on Tansu
        crm_applier_heartbeat_interval_ms=300,
    )


def make_delta(**overrides: Any) -> ItemDelta:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": now,
        "captured_at": now,
        "source": Source(system="exchange"),
        "entity": "contact",
        "op": "update",
        "target": "crm",
        "policy_version": 1,
        "decided_at": now,
        "causation_id": str(uuid.uuid4()),
    }
    values.update(overrides)
    return ItemDelta(**values)


def key_of(delta: ItemDelta) -> bytes:
    return ((delta.crm_id and f"contact:{delta.crm_id}") or f"contact:x-{delta.mailbox}:{delta.exchange_id}").encode()


async def send(producer: AIOKafkaProducer, delta: ItemDelta) -> None:
    await producer.send_and_wait(topics.DELTAS_CRM.full_name, encode(delta), key=key_of(delta))


async def result_of(reader: Any, delta: ItemDelta, count: int = 1, timeout: float = 15.0) -> list[DeltaApplied]:
    records = await reader.wait_for(
        lambda r: DeltaApplied.model_validate_json(r.value).causation_id == delta.event_id,
        count=count,
        timeout=timeout,
        what=f"DeltaApplied for {delta.event_id}",
    )
    return [DeltaApplied.model_validate_json(r.value) for r in records]


def capture_settings(urls: CrmSandboxUrls, kafka_bootstrap: str, redis_url: str) -> CrmCaptureSettings:
    return CrmCaptureSettings(
        bootstrap_servers=kafka_bootstrap,
        redis_url=redis_url,
        crm_base_url=urls.api_url,
        crm_token_url=urls.token_url,
        crm_capture_entities=["contact", "task"],
        crm_capture_poll_interval_s=0.05,
    )


async def start_capture(settings: CrmCaptureSettings) -> Any:
    """Start the service and wait until it holds a cursor (change tracking has begun)."""
    service = await run_service(run_capture, settings)
    redis = Redis.from_url(settings.redis_url)
    try:
        await eventually_async(lambda: redis.get(redis_keys.crm_cursor("contact")), what="the first cursor")
    finally:
        await redis.aclose()
    return service


def events_for(reader: Any, crm_id: str) -> list[ItemChanged]:
    key = topics.crm_item_key("contact", crm_id).encode()
    return [ItemChanged.model_validate_json(r.value) for r in reader.matching(lambda r: r.key == key)]


async def wait_events(reader: Any, crm_id: str, count: int) -> list[ItemChanged]:
    key = topics.crm_item_key("contact", crm_id).encode()
    await reader.wait_for(lambda r: r.key == key, count=count, what=f"{count} events of {crm_id}")
    return events_for(reader, crm_id)


@contextmanager
def service_log(service: str) -> Iterator[list[str]]:
    """The messages a service running in this process logs meanwhile (its own logger: the service's
    logging setup replaces the root handlers, so pytest's caplog would miss them)."""
    messages: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger, recorder = logging.getLogger(f"fieldsync.{service}"), Recorder()
    logger.addHandler(recorder)
    try:
        yield messages
    finally:
        logger.removeHandler(recorder)
