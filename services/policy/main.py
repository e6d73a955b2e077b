"""The policy service's composition root: settings, Redis, the handler and the faust app are built only here."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import uvloop
from redis.asyncio import Redis

from services.policy.app import PolicyApp, create_app
from services.policy.handler import PolicyHandler
from services.policy.security_state import SecurityState
from services.policy.security_store import SecurityStore
from services.policy.settings import PolicySettings
from services.policy.window_writer import WindowWriter
from shared.catalogue import load_catalogue
from shared.change_window import ChangeWindow
from shared.conflict_log import ConflictLog
from shared.metrics import service_metrics


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: PolicySettings | None = None) -> PolicyApp:
    """Wire the app; nothing connects here (Redis connects on first use, faust on worker start)."""
    settings = settings or PolicySettings()
    # faust keeps its worker state under the data folder and fails on start when the folder is missing.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    redis = Redis.from_url(settings.redis_url)
    conflicts = ConflictLog(redis, settings.conflict_max_entries, settings.conflict_retention_s)
    security = SecurityState(SecurityStore(redis), settings.policy_security_wait_s)
    window = WindowWriter(ChangeWindow(redis, settings.change_window_max_entries, settings.change_window_max_age_s))
    handler = PolicyHandler(redis, load_catalogue(), utc_now, conflicts, security, window)
    return create_app(settings, handler, service_metrics(settings, "policy"))


def main() -> None:
    """`python -m services.policy`: the same as `faust -A services.policy.app worker`."""
    settings = PolicySettings()
    # uvloop, as every service: set before faust creates its loop (the policy applies to every loop made after).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = build(settings)
    # faust's worker command turns the web server on unless told otherwise (its --with-web default
    # overrides the app's web_enabled): say it explicitly, so two workers never fight over port 6066.
    web = (
        ["--with-web", "--web-port", str(settings.policy_web_port), "--web-bind", "127.0.0.1"]
        if settings.policy_web_enabled
        else ["--without-web"]
    )
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.log_level.lower(), *web, *sys.argv[1:]]
    app.main()
