"""The admin API's composition root: settings, Redis, the producer and the routes are wired only here.

Run: `uvicorn --factory services.admin_api.main:create_app` or `python -m services.admin_api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.admin_api.context import AppContext
from services.admin_api.explain_reader import ExplainReader
from services.admin_api.filters_routes import filters_api
from services.admin_api.lag import LagObserver
from services.admin_api.operations import Operations, operations_api, pages
from services.admin_api.ops_routes import ops
from services.admin_api.policy_test_routes import policy_test_api
from services.admin_api.preview_routes import preview_api
from services.admin_api.publisher import PolicyPublisher
from services.admin_api.routes import api, probes
from services.admin_api.scrape import Scraper
from services.admin_api.service import PolicyError
from services.admin_api.settings import AdminApiSettings
from services.admin_api.settings_routes import settings_api
from services.admin_api.tokens import TokenRegistry
from services.admin_api.verify_routes import verify_api
from shared import topics
from shared.catalogue import load_catalogue
from shared.conflict_log import ConflictLog
from shared.dead_letter_log import DeadLetterLog
from shared.explain_log import ExplainLog
from shared.mailbox_health import MailboxHealthStore
from shared.metrics import Metrics, start_service_metrics
from shared.policy_store import PolicyStore, VersionConflict

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _validation_message(exc: RequestValidationError) -> str:
    """One readable line from pydantic's error list, e.g. "body.direction: Input should be ..."."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts) if parts else "invalid request"


def _install_error_handlers(app: FastAPI) -> None:
    """Every refusal is JSON {"detail": "..."}; none of them changes anything."""

    async def policy_error(_request: Request, exc: Exception) -> JSONResponse:
        status = exc.status if isinstance(exc, PolicyError) else 409
        return JSONResponse({"detail": str(exc)}, status_code=status)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    async def redis_down(_request: Request, exc: Exception) -> JSONResponse:
        log.error("Redis unreachable: %r", exc)
        return JSONResponse({"detail": "the policy store (Redis) is unreachable; try again"}, status_code=503)

    app.add_exception_handler(PolicyError, policy_error)
    app.add_exception_handler(VersionConflict, policy_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(RedisConnectionError, redis_down)
    app.add_exception_handler(RedisTimeoutError, redis_down)


@asynccontextmanager
async def _operations(app: FastAPI, settings: AdminApiSettings, redis: Redis) -> AsyncIterator[None]:
    """The operators' parts: this API's /metrics (the consumer lag), the lag observer, the dashboard's scraper and
    the mailbox health reader (app.state.operations, read by operations.py)."""
    metrics, server = start_service_metrics(settings, "admin_api")
    scraper = Scraper(settings.metrics_targets(), metrics, settings.dashboard_window_s)
    app.state.operations = operations = Operations(MailboxHealthStore(redis), scraper, None)
    stop = asyncio.Event()
    watching = asyncio.create_task(_watch_lag(settings, metrics, operations, stop))
    try:
        yield
    finally:
        stop.set()
        await watching
        server.stop()


async def _watch_lag(settings: AdminApiSettings, metrics: Metrics, operations: Operations, stop: asyncio.Event) -> None:
    """Connect the lag observer (retried while the broker is away: the API serves meanwhile), then run it."""
    known = {topic.name: topic.full_name for topic in topics.ALL}
    groups = {group: tuple(known[name] for name in names) for group, names in settings.lag_groups.items()}
    attempt = 0
    while not stop.is_set():
        observer = LagObserver(settings.bootstrap_servers, groups, metrics, interval_s=settings.lag_interval_s,
                               fetch_max_wait_ms=settings.fetch_max_wait_ms)  # fmt: skip
        try:
            await observer.start()
        except Exception as exc:  # the broker away at start: try again, never fail the API for it
            attempt += 1
            if attempt == 1:
                log.warning("consumer lag cannot be watched yet, retrying: %r", exc)
            with contextlib.suppress(Exception):
                await observer.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(10.0, 0.5 * attempt))
            continue
        operations.lag = observer
        try:
            await observer.run(stop)
        finally:
            await observer.stop()
        return


def create_app(settings: AdminApiSettings | None = None) -> FastAPI:
    """Build the app; raises ValueError (refusing to start) on a token configuration that must not run."""
    settings = settings or AdminApiSettings()
    tokens = TokenRegistry(settings.token_records())
    catalogue = load_catalogue()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Start: connect Redis, seed the policy if absent, start the producer, the operators' parts. Stop: all."""
        redis = Redis.from_url(settings.redis_url)
        publisher = PolicyPublisher(
            lambda: AIOKafkaProducer(
                bootstrap_servers=settings.bootstrap_servers,
                enable_idempotence=False,  # Tansu cannot do InitProducerId (DESIGN 5)
                acks="all",
                request_timeout_ms=int(settings.policy_publish_timeout_s * 1000),
            ),
            attempts=settings.policy_publish_attempts,
            timeout_s=settings.policy_publish_timeout_s,
            backoff_s=settings.policy_publish_backoff_s,
        )
        conflicts = ConflictLog(redis, settings.conflict_max_entries, settings.conflict_retention_s)
        explain_log = ExplainLog(redis, settings.explain_max_per_item, settings.explain_retention_s)
        letters = DeadLetterLog(redis, settings.deadletter_max_entries, settings.deadletter_retention_s)
        context = AppContext(
            store=PolicyStore(redis),
            conflicts=conflicts,
            publisher=publisher,
            catalogue=catalogue,
            tokens=tokens,
            clock=_now,
            new_id=lambda: str(uuid.uuid4()),
            explain=ExplainReader(redis, explain_log, conflicts, letters),
            letters=letters,
            readiness_timeout_s=settings.readiness_timeout_s,
        )
        app.state.context = context
        try:
            await context.policy()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("Redis unreachable at start; /readyz reports it until it answers: %r", exc)
        await publisher.start()
        try:
            async with _operations(app, settings, redis):
                yield
        finally:
            await publisher.stop()
            await redis.aclose()

    app = FastAPI(
        title="fieldsync admin API",
        version="1",
        description="View and change the per-field sync directions, conflict rules and organisation settings, with "
        "roles and an audit "
        "history; read the conflict log; explain why a record's field did (not) sync; list, replay and discard "
        "dead letters.",
        lifespan=lifespan,
    )
    app.include_router(probes)
    app.include_router(api)
    app.include_router(ops)
    app.include_router(verify_api(settings))
    app.include_router(preview_api(settings))
    app.include_router(filters_api(settings))
    app.include_router(policy_test_api(settings))
    app.include_router(settings_api)
    app.include_router(operations_api)
    app.include_router(pages)
    _install_error_handlers(app)
    return app
