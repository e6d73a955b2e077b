"""Gathers what explain needs from Redis: the item's kept decisions and results, its links, its conflicts (edge)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.admin_api.explain import Explanation, explain
from shared import redis_keys
from shared.conflict_log import ConflictLog
from shared.dead_letter_log import DeadLetterLog
from shared.events import ConflictRecord, DeltaApplied, SyncDecision
from shared.explain_log import ExplainLog, exchange_item

CONFLICTS_READ = 500  # the conflicts of one record read per request: explain shows recent changes only


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ExplainReader:
    """Reads an item through every name its entries may be kept under: the CRM record, and each linked mailbox
    item as it was named before it was linked (a record created from a mailbox item was decided under that)."""

    def __init__(self, redis: Redis, log: ExplainLog, conflicts: ConflictLog, letters: DeadLetterLog) -> None:
        self._redis, self._log, self._conflicts, self._letters = redis, log, conflicts, letters

    async def by_crm(
        self, entity: str, crm_id: str, mailbox: str | None, field: str | None, limit: int
    ) -> Explanation:
        raw = await self._redis.hgetall(redis_keys.link_by_crm(entity, crm_id))
        links = {_text(k): _text(v) for k, v in raw.items()}
        items = [crm_id, *(exchange_item(m, x) for m, x in links.items() if _same(m, mailbox))]
        changes = await self._changes(entity, items, crm_id, mailbox, field, limit)
        exchange_id = next((x for m, x in links.items() if mailbox and _same(m, mailbox)), None)
        return Explanation(entity=entity, crm_id=crm_id, mailbox=mailbox, exchange_id=exchange_id, field=field,
                           links=links, changes=changes)

    async def by_exchange(
        self, entity: str, mailbox: str, exchange_id: str, field: str | None, limit: int
    ) -> Explanation:
        """An Exchange item: its entries from before it was linked, and its CRM record's for this mailbox."""
        linked = await self._redis.get(redis_keys.link_by_exchange(mailbox, exchange_id))
        crm_id = None
        if linked is not None:
            linked_entity, _, linked_id = _text(linked).partition(":")
            crm_id = linked_id if linked_entity == entity else None
        items = [exchange_item(mailbox, exchange_id), *([crm_id] if crm_id else [])]
        changes = await self._changes(entity, items, crm_id, mailbox, field, limit)
        links = {mailbox: exchange_id} if crm_id else {}
        return Explanation(entity=entity, crm_id=crm_id, mailbox=mailbox, exchange_id=exchange_id, field=field,
                           links=links, changes=changes)

    async def _changes(
        self, entity: str, items: list[str], crm_id: str | None, mailbox: str | None, field: str | None, limit: int
    ) -> list[Any]:
        decisions: list[SyncDecision] = []
        applied: list[DeltaApplied] = []
        for item in items:
            for lane in await self._log.lanes(entity, item):
                if mailbox is not None and lane != mailbox.lower():
                    continue
                kept = await self._log.read(entity, item, lane)
                decisions += kept.decisions
                applied += kept.applied
        conflicts: list[ConflictRecord] = []
        if crm_id is not None:
            conflicts, _ = await self._conflicts.query(
                entity=entity, crm_id=crm_id, mailbox=mailbox, limit=CONFLICTS_READ
            )
        failed = sorted({a.causation_id for a in applied if a.result == "failed" and a.causation_id})
        letters = await self._letters.letters_of(failed)
        return explain(decisions, applied, conflicts, mailbox=mailbox, field=field, limit=limit, letters=letters)


def _same(mailbox: str, wanted: str | None) -> bool:
    return wanted is None or mailbox.lower() == wanted.lower()
