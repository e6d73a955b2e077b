"""Fixtures every integration test directory shares: topic readers and a plain producer on the test broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.harness import TopicReader


@pytest.fixture
async def read_topic(kafka_bootstrap: str) -> AsyncIterator[Callable[[str], Any]]:
    """`reader = await read_topic(topics.X.full_name)`: readers are stopped after the test."""
    readers: list[TopicReader] = []

    async def open_reader(topic: str) -> TopicReader:
        reader = TopicReader(kafka_bootstrap, topic)
        await reader.start()
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        with contextlib.suppress(Exception):
            await reader.stop()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer as another service would have one (acks from all, no idempotence: Tansu)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    yield producer
    await producer.stop()
