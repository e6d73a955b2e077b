"""A pipeline service's process: logging from settings (secrets masked), SIGTERM/SIGINT -> stop, the async main
on uvloop."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import uvloop
from pydantic import SecretStr

from shared.settings import Base

S = TypeVar("S", bound=Base)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# httpx/httpcore log every request at INFO (crm_capture polls three entities a second: three lines a
# second when idle); exchangelib's debug output carries request bodies. Their warnings still show.
QUIET_LOGGERS = ("httpx", "httpcore", "exchangelib")
MASK = "***"
# A bearer token in a header or an error text; the token itself is what must not be written.
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_SHORTEST_SECRET = 4  # masking shorter strings would mangle ordinary words and still hide nothing


class RedactingFormatter(logging.Formatter):
    """Formats a record, then masks the given secrets and any bearer token in the whole line (traceback too)."""

    def __init__(self, secrets: Iterable[str], fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt)
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= _SHORTEST_SECRET}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def secrets_of(settings: Base) -> list[str]:
    """The values of every SecretStr setting (client secret, EWS password, tokens), and any password inside a
    URL setting (redis://user:password@host), which a plain string setting would otherwise show."""
    values = [getattr(settings, name) for name in type(settings).model_fields]
    secrets = [value.get_secret_value() for value in values if isinstance(value, SecretStr)]
    for value in values:
        if isinstance(value, str) and "://" in value:
            password = urlsplit(value).password
            if password:
                secrets.append(password)
    return secrets


def configure_logging(settings: Base) -> logging.Handler:
    """One stderr handler at the configured level with secrets masked; chatty HTTP libraries at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(secrets_of(settings)))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def logging_config(settings: Base) -> dict[str, Any]:
    """configure_logging as a `logging.config.dictConfig` dict, for a framework that sets logging up itself
    from such a dict when its worker starts (faust: `App(logging_config=...)`)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"redacting": {"()": RedactingFormatter, "secrets": secrets_of(settings)}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "redacting"}},
        "root": {"level": settings.log_level, "handlers": ["stderr"]},
        "loggers": {name: {"level": "WARNING"} for name in QUIET_LOGGERS},
    }


def serve(run: Callable[[S, asyncio.Event], Awaitable[None]], settings: S) -> None:
    """Configure logging, then run `run(settings, stop)` until it returns; SIGTERM or SIGINT sets `stop`."""
    configure_logging(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
