"""Codecs and producer/consumer factories: JSON values, string keys, and the dead-letter convention."""

from __future__ import annotations

from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from shared import failures, topics
from shared.settings import KafkaSettings

M = TypeVar("M", bound=BaseModel)

# Headers a dead letter carries next to the original bytes.
ERROR_HEADER = "fs-error"
SERVICE_HEADER = "fs-service"
ORIGIN_TOPIC_HEADER = "fs-origin-topic"
ORIGIN_PARTITION_HEADER = "fs-origin-partition"
ORIGIN_OFFSET_HEADER = "fs-origin-offset"
# Only when an exception made the event fail (shared.failures): its type and where it was raised.
EXCEPTION_HEADER = "fs-exception"
TRACEBACK_HEADER = "fs-traceback"


def encode(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def decode(model_type: type[M], raw: bytes | None) -> M:
    """Parse at the edge; raises pydantic.ValidationError for anything that is not a valid event."""
    return model_type.model_validate_json(raw or b"")


def make_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """Acks from the leader before a send counts; no idempotence: Tansu cannot do InitProducerId."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 2,
        "key_serializer": lambda key: key.encode() if isinstance(key, str) else key,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    settings: KafkaSettings, *topic_names: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """Manual commits (after the effect), earliest on a new group, and the fetch wait from settings.

    `group_id=None` makes a consumer outside any group: it reads every partition and commits nothing."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "max_poll_records": 500,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topic_names, **options)


def dead_letter_headers(
    error: str, service: str, topic: str, partition: int, offset: int, exc: BaseException | None = None
) -> list[tuple[str, bytes]]:
    """The reason and origin of a dead letter; with `exc`, also the exception's type and a traceback summary."""
    headers = [
        (ERROR_HEADER, error[:4000].encode()),
        (SERVICE_HEADER, service.encode()),
        (ORIGIN_TOPIC_HEADER, topic.encode()),
        (ORIGIN_PARTITION_HEADER, str(partition).encode()),
        (ORIGIN_OFFSET_HEADER, str(offset).encode()),
    ]
    if exc is not None:
        headers.append((EXCEPTION_HEADER, failures.type_name(exc).encode()))
        headers.append((TRACEBACK_HEADER, failures.summary(exc)[:2000].encode()))
    return headers


async def send_dead_letter(
    producer: AIOKafkaProducer, record: Any, error: str, service: str, exc: BaseException | None = None
) -> None:
    """Forward a consumed record's original key and bytes to the dead-letter topic with the reason."""
    await producer.send_and_wait(
        topics.DEADLETTER.full_name,
        value=record.value,
        key=record.key,
        headers=dead_letter_headers(error, service, record.topic, record.partition, record.offset, exc),
    )
