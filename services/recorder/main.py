"""recorder's composition root: settings, Redis, the logs, the consumer and the producer are built here."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from services.recorder.loop import TOPICS, RecorderLoop
from services.recorder.settings import RecorderSettings
from shared.dead_letter_log import DeadLetterLog
from shared.explain_log import ExplainLog
from shared.kafka import make_consumer, make_producer
from shared.metrics import start_service_metrics
from shared.runtime import serve

log = logging.getLogger("fieldsync.recorder")


async def run(settings: RecorderSettings, stop: asyncio.Event) -> None:
    """Start everything, record until `stop` is set, then close everything (offsets already committed)."""
    redis = Redis.from_url(settings.redis_url)
    explain = ExplainLog(redis, settings.explain_max_per_item, settings.explain_retention_s)
    letters = DeadLetterLog(redis, settings.deadletter_max_entries, settings.deadletter_retention_s)
    metrics, server = start_service_metrics(settings, "recorder")
    consumer = make_consumer(settings, *TOPICS, group_id=settings.recorder_group_id)
    producer = make_producer(settings)
    await producer.start()
    await consumer.start()
    try:
        log.info("recorder started: group=%s", settings.recorder_group_id)
        loop = RecorderLoop(consumer, producer, explain, letters, settings.recorder_backoff_max_s,
                            settings.dead_letter_after_attempts, metrics=metrics)
        await loop.run(stop)
    finally:
        await consumer.stop()
        await producer.stop()
        await redis.aclose()
        server.stop()
        log.info("recorder stopped")


def main() -> None:
    """`python -m services.recorder`: run until SIGTERM or SIGINT, then exit 0."""
    serve(run, RecorderSettings())
