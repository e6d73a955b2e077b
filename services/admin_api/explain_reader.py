"""Gathers what explain needs from Redis: the item's kept decisions and results, its links, its conflicts (edge)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.admin_api.explain import Explanation, explain
from shared.conflict_log import ConflictLog
from shared.dead_letter_log import DeadLetterLog
from shared.events import ConflictRecord, DeltaApplied, SyncDecision
from shared.explain_log import ExplainLog, exchange_item
from shared.link_store import LinkStore

CONFLICTS_READ = 500  # the conflicts of one record read per request: explain shows recent changes only



class ExplainReader:
    """Reads an item through every name its entries may be kept under: the CRM record, and each linked mailbox
    item as it was named before it was linked (a record created from a mailbox item was decided under that)."""

    def __init__(self, redis: Redis, log: ExplainLog, conflicts: ConflictLog, letters: DeadLetterLog) -> None:
        self._redis, self._log, self._conflicts, self._letters = redis, log, conflicts, letters

    async def by_crm(
        self, entity: str, crm_id: str, mailbox: str | None, field: str | None, limit: int
    ) -> Explanation:
        links = await LinkStore(self._redis).of_record(entity, crm_id)
        items = [crm_id, *(exchange_item(m, x) for m, x in links.items() if _same(m, mailbox))]
        changes = await self._changes(entity, items, crm_id, mailbox, field, limit)
        exchange_id = next((x for m, x in links.items() if mailbox and _same(m, mailbox)), None)
        return Explanation(entity=entity, crm_id=crm_id, mailbox=mailbox, exchange_id=exchange_id, field=field,
                           links=links, changes=changes)

    async def by_exchange(
        self, entity: str, mailbox: str, exchange_id: str, field: str | None, limit: int
    ) -> Explanation:
        """An Exchange item: its entries from before it was linked, and its CRM record's for this mailbox."""
        linked = await LinkStore(self._redis).of_item(mailbox, exchange_id)
        crm_id = linked[1] if linked and linked[0] == entity else None
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
