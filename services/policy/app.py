"""The faust app: agents for the change topics and the policy topic, the doorbell, a refresh timer, on Tansu.

Run as `python -m services.policy`, or `faust -A services.policy.app worker --without-web` (the module attribute
`app` is built on first access by main.build, the composition root; faust's worker command turns the web server
on, port 6066, unless given --without-web).

Lifecycle: on start the worker joins the consumer group; the changes agent decides up to `policy_concurrency`
changes at once, those of one pair one after another (keyed.py): parse, decide, publish and wait for the broker's
acks, then the event counts as processed, and once it and every earlier event of its partition are, faust commits
its offset (every `policy_commit_interval_s`; at least once: a crash replays the uncommitted tail: the deltas it
re-derives carry the same ids (uuid5 of the change), so the appliers' applied records drop them; a change the
capture published twice carries two ids and is absorbed by value: the target already holds what it says).
Invalid payloads go to the dead-letter topic with the reason. The security agent stores each SecurityChanged row
(security_state.py) before acking it; until a first round is complete, changes wait (SecurityPending). Any other
failure of a step is classified (shared.failures): a transient one (Redis or the broker away, the security tables not
known yet) is retried, the whole step, with capped exponential backoff until it succeeds or the worker stops; a
deterministic one (the same change fails the same way) is tried `dead_letter_after_attempts` times, then the change
is dead-lettered with the exception's type and traceback summary and acked, so the partition moves on. The agents ack
by hand (noack streams), because faust acks an event even when the agent raises, which would commit the offset of a
change nobody published. A step cut short by a stop is never acked: the next owner of the partition replays it. The
refresh timer and the first load survive Redis outages the same way. The policy agent sees each PolicyChanged on one
worker of the group: it dead-letters a bad one; every worker's doorbell (doorbell.py, outside the group) makes that
worker re-read the store. A task writes the change window every 0.5 s (window_writer.py); with the web server on,
`POST /preview` replays it (preview_page.py). On stop (SIGTERM/Ctrl-C) faust stops the agents, flushes the producer,
commits and leaves the group.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust

from services.policy import doorbell, preview_page, window_writer
from services.policy.handler import InvalidEvent, Planned, PolicyHandler
from services.policy.keyed import KeyedSteps
from services.policy.settings import PolicySettings
from services.policy.transport import TansuTransport
from shared import topics
from shared.events import SyncDecision
from shared.failures import describe, is_transient, retry_after
from shared.kafka import dead_letter_headers, encode, make_consumer
from shared.metrics import Metrics, serve_service
from shared.pacing import backoff_delay
from shared.runtime import logging_config

SERVICE = "policy"
# Backoff between retries of a failed step: short first (a Redis blip), capped so recovery is seen soon.
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0

log = logging.getLogger("fieldsync.policy")


async def until_done(
    app: faust.App,
    what: str,
    step: Callable[[], Awaitable[object]],
    poison: Callable[[Exception], Awaitable[object]] | None = None,
    attempts: int = 1,
) -> bool:
    """Run `step` until it succeeds (True) or the app is stopping (False); logs once per failure streak.

    A transient failure (an outage: shared.failures) is retried forever. With `poison`, a step that fails
    deterministically `attempts` times is given up: `poison(exc)` (dead-letter the event) runs instead,
    retried the same way, and its success counts as done. Without `poison` every failure is retried.
    Lifecycle: loops only while the step keeps failing; `app.sleep` returns early when the app stops.
    """
    failures, deterministic = 0, 0
    given_up: Exception | None = None
    while not app.should_stop:
        try:
            await (step() if given_up is None or poison is None else poison(given_up))
        except Exception as exc:  # bad input is handled in step; the rest is classified here
            if poison is not None and given_up is None and not is_transient(exc):
                deterministic += 1
                if deterministic >= attempts:
                    log.error("policy gives up trying to %s after %d attempts, dead-lettering it: %s",
                              what, deterministic, describe(exc))
                    given_up = exc
                    continue
            if failures == 0:
                log.warning("policy could not %s, retrying with backoff: %r", what, exc)
            failures += 1
            await app.sleep(backoff_delay(failures - 1, RETRY_FIRST_S, RETRY_MAX_S, retry_after(exc)))
            continue
        if failures:
            log.info("policy could %s again after %d failed attempts", what, failures)
        return True
    return False


class PolicyApp(faust.App):
    """A faust app whose consumer transport takes its fetch wait from settings (see transport.py)."""

    fetch_max_wait_ms: int = 10

    def _new_transport(self) -> TansuTransport:
        return TansuTransport(self.conf.broker_consumer, self, fetch_max_wait_ms=self.fetch_max_wait_ms)


def broker_url(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip())


def count(metrics: Metrics, topic: str, planned: Planned) -> None:
    """One decided change: consumed, what it published, every field's outcome, its conflicts, the decide hop."""
    metrics.consumed(topic)
    for item in planned.outgoing:
        metrics.produced(item.topic.full_name)
        if isinstance(item.event, SyncDecision):
            metrics.hop("decide", (item.event.decided_at - item.event.captured_at).total_seconds())
            for outcome in item.event.outcomes:
                metrics.decided("synced" if outcome.synced else "withheld", outcome.reason or "none")
    for record in planned.conflicts:
        metrics.conflict(record.rule, record.winner)


def create_app(settings: PolicySettings, handler: PolicyHandler, metrics: Metrics | None = None) -> PolicyApp:
    """The worker; with `metrics`, counted there and (at worker start) served on the policy's metrics port."""
    app = PolicyApp(
        settings.policy_group_id,
        broker=broker_url(settings.bootstrap_servers),
        # Tansu has no idempotent producer or transactions (DESIGN 5): at least once, effects idempotent.
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # Topics are created explicitly (infra.kafka.topics); no leader topic, no tables (no compaction).
        topic_allow_declare=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=str(settings.data_dir / "policy"),
        web_enabled=settings.policy_web_enabled,
        web_port=settings.policy_web_port,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.policy_session_timeout_s,
        broker_rebalance_timeout=settings.policy_rebalance_timeout_s,
        broker_heartbeat_interval=settings.policy_heartbeat_interval_s,
        broker_commit_interval=settings.policy_commit_interval_s,
        key_serializer="raw",
        value_serializer="raw",
        # The services' log format with secrets masked, instead of faust's own handler (set up on worker start).
        logging_config=logging_config(settings),
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    changes = app.topic(topics.CRM_CHANGES.full_name, topics.EXCHANGE_CHANGES.full_name)
    policy_topic = app.topic(topics.POLICY.full_name)
    security_topic = app.topic(topics.CRM_SECURITY.full_name)
    outputs = {
        t.full_name: app.topic(t.full_name) for t in (topics.DELTAS_CRM, topics.DELTAS_EXCHANGE, topics.DECISIONS)
    }
    deadletter = app.topic(topics.DEADLETTER.full_name)
    counted = metrics or Metrics(SERVICE)

    async def dead_letter(
        event: Any, error: str, exc: BaseException | None = None, why: str = "invalid_payload"
    ) -> None:
        message = event.message
        headers = dead_letter_headers(error, SERVICE, message.topic, message.partition, message.offset, exc)
        await (await deadletter.send(key=message.key, value=message.value, headers=headers))
        counted.dead_lettered(SERVICE, why)

    def poison(event: Any) -> Callable[[Exception], Awaitable[None]]:
        """What a change that keeps failing the same way becomes: a dead letter with the exception."""
        attempts = settings.dead_letter_after_attempts
        return lambda exc: dead_letter(event, f"failed {attempts} times the same way: {describe(exc)}", exc,
                                       "repeated_failure")

    async def decide_and_publish(event: Any) -> None:
        try:
            planned = await handler.on_change(event.message.value)
        except InvalidEvent as exc:
            await dead_letter(event, str(exc))
            return
        # Every output is handed to the producer first and the acks awaited together (one round trip, not one
        # per output; the producer keeps each partition's order): the event is acked only after every output is
        # on the broker. A retried step may publish some outputs twice: their ids derive from the change, the
        # appliers drop repeats.
        acks = [
            await outputs[item.topic.full_name].send(key=item.key.encode(), value=encode(item.event))
            for item in planned.outgoing
        ]
        await asyncio.gather(*acks)
        await handler.commit(planned)  # the merge state moves on only once its events are on the broker
        count(counted, event.message.topic, planned)

    def dead_lettering(on: Callable[[bytes | None], Awaitable[object]]) -> Callable[[Any], Awaitable[None]]:
        """One event through `on`; a payload it calls invalid goes to the dead-letter topic instead."""

        async def step(event: Any) -> None:
            try:
                await on(event.message.value)
            except InvalidEvent as exc:
                await dead_letter(event, str(exc))

        return step

    async def one_by_one(stream: faust.StreamT[bytes], what: str, step: Callable[[Any], Awaitable[None]]) -> None:
        """Each event through `step` until done, then acked (stopping: unacked, so its offset is not committed)."""
        manual = cast(faust.Stream[bytes], stream).noack()  # StreamT does not declare noack
        async for event in manual.events():
            if not await until_done(app, what, functools.partial(step, event)):
                return
            await manual.ack(event)

    @app.agent(changes, name="policy.changes")
    async def decide_changes(stream: faust.StreamT[bytes]) -> None:
        manual = cast(faust.Stream[bytes], stream).noack()  # StreamT does not declare noack
        # Different pairs at once, one pair's changes in order, acks in offset order (keyed.py).
        steps: KeyedSteps[Any] = KeyedSteps(settings.policy_concurrency, manual.ack)
        try:
            async for event in manual.events():
                decide_one = functools.partial(decide_and_publish, event)
                step = functools.partial(
                    until_done, app, "decide a change", decide_one, poison(event), settings.dead_letter_after_attempts
                )
                await steps.submit(event.message.key, event.message.tp, event, step)
                if steps.stopped:
                    return  # stopping: what is not acked is not committed, the next owner replays it
        finally:
            await steps.drain()

    @app.agent(security_topic, name="policy.security")
    async def receive_security(stream: faust.StreamT[bytes]) -> None:
        # One partition (one key): the worker that owns it stores the rounds; the others follow Redis.
        await one_by_one(stream, "store a security change", dead_lettering(handler.on_security))

    @app.agent(policy_topic, name="policy.switch")
    async def switch_policy(stream: faust.StreamT[bytes]) -> None:
        await one_by_one(stream, "switch the policy", dead_lettering(handler.on_policy))

    refresh_failures = 0

    # faust types timer() as returning a bare Callable and task() as a union of callables: mypy sees both
    # as untyped decorators (the functions themselves are fully annotated).
    @app.timer(interval=settings.policy_refresh_interval_s, name="policy.refresh")  # type: ignore[untyped-decorator]
    async def refresh_policy() -> None:
        # An exception here would crash the whole app (mode's task runner): keep the current policy instead,
        # the next tick tries again.
        nonlocal refresh_failures
        try:
            await handler.refresh()
            await handler.security.follow()  # a round another worker stored
        except Exception as exc:  # any failure: the timer must outlive it
            if refresh_failures == 0:
                log.warning("policy refresh failed, keeping the current policy: %r", exc)
            refresh_failures += 1
            return
        if refresh_failures:
            log.info("policy refresh works again after %d failures", refresh_failures)
        refresh_failures = 0

    if metrics is not None:

        @app.task  # type: ignore[untyped-decorator]
        async def metrics_endpoint() -> None:
            # At worker start, not when the app is built: nothing listens before the worker runs.
            serve_service(counted, settings)  # its daemon thread serves until the process exits

    @app.task  # type: ignore[untyped-decorator]
    async def load_policy() -> None:
        await until_done(app, "load the policy", handler.start)

    @app.task  # type: ignore[untyped-decorator]
    async def policy_doorbell() -> None:
        # Outside the group, from the topic's end: this worker hears every PolicyChanged (doorbell.py).
        consumer = make_consumer(
            settings, topics.POLICY.full_name, group_id=None, auto_offset_reset="latest",
            fetch_max_wait_ms=doorbell.FETCH_MAX_WAIT_MS,
        )  # fmt: skip
        await doorbell.listen(consumer, functools.partial(until_done, app, "switch the policy", handler.refresh))

    async def log_assignment(_sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        """Which partitions this worker decides for, after every rebalance (operators, and the tests, read it).

        faust sends the signal with the set of assigned topic partitions as its one argument."""
        assigned: set[Any] = args[0] if args else set()
        owned = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)) or "none"
        log.info("policy worker assigned: %s", owned)

    app.on_partitions_assigned.connect(log_assignment)
    if handler.window is not None:  # the change window: written in batches, replayed by POST /preview
        window_writer.attach(app, handler.window)
        preview_page.install(app, handler, handler.window.window)

    return app


def __getattr__(name: str) -> Any:
    """`faust -A services.policy.app` reads `app`: built on first access by the composition root."""
    if name == "app":
        from services.policy.main import build

        built = build()
        globals()["app"] = built
        return built
    raise AttributeError(name)
