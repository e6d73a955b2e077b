"""The doorbell: every policy worker hears every PolicyChanged, and re-reads the store when it rings.

The group agent (app.py) receives each PolicyChanged on one worker only, the owner of the policy topic's
partition: it validates the event and dead-letters a bad one, once for the group. The doorbell is a
consumer outside the group (no group id, reading from the end of the topic), one per worker, so every
worker switches within a fetch of the publish however many share the group. What a record says does not
matter here: a ring only re-reads the store, the authority (handler.refresh), so a replayed, foreign or
malformed record costs one Redis read and changes nothing.

Lifecycle: `listen` starts the consumer, rings once per fetched batch (a burst of changes is one re-read),
and stops the consumer when cancelled (the worker stopping). While the broker is away aiokafka reconnects by
itself; the caller's ring retries a failed store read (app.until_done).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer

# How long one fetch round waits for records before asking again (the consumer's fetch wait is separate).
POLL_TIMEOUT_MS = 1000
# The doorbell's fetch wait: Tansu holds every fetch this long even when a record is ready (DESIGN 5), so it
# is what a switch can wait at most; 200 ms keeps a switch well within the 1 s target at 5 fetches a second
# when idle, where the decision path's 50 ms would cost 20.
FETCH_MAX_WAIT_MS = 200


async def listen(consumer: AIOKafkaConsumer, ring: Callable[[], Awaitable[object]]) -> None:
    """Ring after every batch the consumer fetches, until cancelled; the consumer is started and stopped here."""
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            if any(batch.values()):
                await ring()
    finally:
        await consumer.stop()
