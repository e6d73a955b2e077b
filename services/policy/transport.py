"""The faust transport for Tansu: faust's aiokafka driver with the consumer fetch wait taken from settings.

faust-streaming's aiokafka driver hard-codes `fetch_max_wait_ms=1500` for worker consumers, and Tansu
holds every fetch for the full wait even when records are ready (DESIGN 5): every hop would cost 1.5 s.
This module keeps the driver as it is and only sets the fetch wait before the consumer starts.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import ConsumerT

DEFAULT_FETCH_MAX_WAIT_MS = 10


class TansuConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Builds the driver's worker consumer, then replaces the hard-coded fetch wait with the transport's."""

    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this attribute to its Fetcher in start(), which runs after this method returns.
        consumer._fetch_max_wait_ms = getattr(transport, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS)
        return consumer


class TansuConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(faust_aiokafka.Transport):
    """The aiokafka transport with a configurable consumer fetch wait (milliseconds)."""

    Consumer: ClassVar[type[ConsumerT]] = TansuConsumer

    def __init__(self, *args: Any, fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms
