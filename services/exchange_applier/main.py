"""exchange_applier's composition root: settings, Redis, the EWS client, consumer and producer are built here."""

from __future__ import annotations

import asyncio
import logging
import signal

from redis.asyncio import Redis

from services.exchange_applier.loop import ApplierLoop
from services.exchange_applier.records import AppliedRecords
from services.exchange_applier.settings import ExchangeApplierSettings
from services.exchange_applier.writer import ExchangeWriter
from services.exchange_capture.state import ExchangeState
from shared import topics
from shared.clients.exchange import ExchangeClient
from shared.kafka import make_consumer, make_producer
from shared.settings import refuse_placeholders

log = logging.getLogger("fieldsync.exchange_applier")


def build_writer(settings: ExchangeApplierSettings, client: ExchangeClient, redis: Redis) -> ExchangeWriter:
    return ExchangeWriter(
        client,
        ExchangeState(redis),
        AppliedRecords(redis),
        retry_attempts=settings.exchange_applier_retry_attempts,
        retry_base_s=settings.exchange_applier_retry_base_s,
        retry_max_s=settings.exchange_applier_retry_max_s,
        conflict_retries=settings.exchange_applier_conflict_retries,
    )


async def run(settings: ExchangeApplierSettings, stop: asyncio.Event) -> None:
    """Start everything, apply until `stop` is set, then close everything (offsets already committed)."""
    refuse_placeholders(settings, settings.ews_password)
    client = ExchangeClient(settings)
    redis = Redis.from_url(settings.redis_url)
    consumer = make_consumer(settings, topics.DELTAS_EXCHANGE.full_name, group_id=settings.exchange_applier_group_id)
    producer = make_producer(settings)
    await producer.start()
    await consumer.start()
    try:
        log.info("exchange_applier started: group=%s", settings.exchange_applier_group_id)
        loop = ApplierLoop(consumer, producer, build_writer(settings, client, redis),
                           settings.exchange_applier_backoff_max_s)
        await loop.run(stop)
    finally:
        await consumer.stop()
        await producer.stop()
        await client.close()
        await redis.aclose()
        log.info("exchange_applier stopped")


def main() -> None:
    settings = ExchangeApplierSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def serve() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(serve())
