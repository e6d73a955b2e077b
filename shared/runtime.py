"""A pipeline service's process: logging from settings, SIGTERM/SIGINT -> stop, the async main."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.settings import Base

S = TypeVar("S", bound=Base)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(settings: Base) -> None:
    """Log to stderr at the configured level, in the one format every service uses."""
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)


def serve(run: Callable[[S, asyncio.Event], Awaitable[None]], settings: S) -> None:
    """Configure logging, then run `run(settings, stop)` until it returns; SIGTERM or SIGINT sets `stop`."""
    configure_logging(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(main())
