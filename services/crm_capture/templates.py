"""The default sync filter templates, copied into a user's filters the first time fieldsync syncs their mailbox."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.asyncio import Redis

from shared import redis_keys
from shared.crm.client import CrmClient
from shared.crm.filters import ensure_templates

log = logging.getLogger("fieldsync.crm_capture")


class TemplateCopier:
    """Dynamics copies the OutlookTemplate savedqueries (isdefault) into a user's userqueries when their mailbox is
    enabled; fieldsync does it when it first meets a user with a mailbox (shared.crm.filters.ensure_templates,
    which copies nothing to a user who has filters already). Whom it served is kept in Redis, so a restart does
    not ask again and a user who later removed every filter of theirs gets none back."""

    def __init__(self, client: CrmClient, redis: Redis) -> None:
        self.client = client
        self.redis = redis
        self._served: set[str] = set()

    async def ensure(self, users: Iterable[str]) -> None:
        for user in users:
            user = user.lower()
            if user in self._served:
                continue
            if not await self.redis.sismember(redis_keys.CAPTURE_TEMPLATED_USERS, user):
                copies = await ensure_templates(self.client, user)
                if copies:
                    log.info("crm_capture copied %d default sync filters to user %s", len(copies), user)
                await self.redis.sadd(redis_keys.CAPTURE_TEMPLATED_USERS, user)
            self._served.add(user)
