"""A policy worker whose handler crashes on one change (a fake of the handler port), run as a process by the tests.

`python -m tests.integration.policy.poisoned_worker`: the production app (services.policy.app.create_app) with
the production handler, except that a change whose bytes hold FIELDSYNC_TEST_POISON raises KeyError every
time, as a bug in the rules would: the same change fails the same way, whatever the retry.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from redis.asyncio import Redis

from services.policy.app import create_app
from services.policy.handler import PolicyHandler
from services.policy.main import utc_now
from services.policy.settings import PolicySettings
from shared.catalogue import load_catalogue
from shared.conflict_log import ConflictLog

log = logging.getLogger("fieldsync.policy")


class PoisonedHandler(PolicyHandler):
    """The real handler, but one change (by a marker in its bytes, e.g. its event id) always crashes it."""

    def __init__(self, poison: bytes, *args: Any) -> None:
        super().__init__(*args)
        self.poison = poison

    async def on_change(self, raw: bytes | None, *args: Any, **kwargs: Any) -> Any:
        if raw and self.poison in raw:
            log.info("poisoned handler crashes on the poison change")  # the test counts these lines
            raise KeyError("poison: a field the rules do not know")
        return await super().on_change(raw, *args, **kwargs)


def main() -> None:
    settings = PolicySettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    poison = os.environ["FIELDSYNC_TEST_POISON"].encode()
    redis = Redis.from_url(settings.redis_url)
    conflicts = ConflictLog(redis, settings.conflict_max_entries, settings.conflict_retention_s)
    handler = PoisonedHandler(poison, redis, load_catalogue(), utc_now, conflicts)
    app = create_app(settings, handler)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
