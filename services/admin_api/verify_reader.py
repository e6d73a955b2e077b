"""What verify reads: the links in Redis (SCAN), and both sides of them through the Web API and EWS.

Edge code: it translates rows and items into canonical values the way the captures do, and never decides.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.admin_api.verify import Reading
from services.admin_api.verify_schemas import Pair
from shared import redis_keys
from shared.catalogue import Catalogue, EntitySpec
from shared.crm.client import CrmClient
from shared.crm.fields import canonical_fields, read_attributes
from shared.exchange import fields as exchange_fields
from shared.exchange.client import ExchangeClient
from shared.exchange.errors import NoMailbox

REDIS_CHUNK = 500  # keys per pipeline round trip


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True)
class LinkIndex:
    """The linked pairs, from the link_by_crm hashes (mailbox -> Exchange id per CRM record)."""

    redis: Redis

    async def pairs(self, entities: frozenset[str], mailbox: str | None) -> list[Pair]:
        """Every linked pair of these entities (optionally of one mailbox, any case), sorted."""
        if not entities:
            return []
        pattern = redis_keys.link_by_crm_pattern(next(iter(entities)) if len(entities) == 1 else None)
        keys = [_text(key) async for key in self.redis.scan_iter(match=pattern, count=1000)]
        keys = [key for key in keys if key.rsplit(":", 2)[-2] in entities]
        found: list[Pair] = []
        for chunk in _chunks(keys, REDIS_CHUNK):
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.hgetall(key)
                hashes = await pipe.execute()
            for key, links in zip(chunk, hashes, strict=True):
                entity, crm_id = key.rsplit(":", 2)[-2:]
                for box, exchange_id in links.items():
                    if mailbox is None or _text(box).lower() == mailbox.lower():
                        found.append(Pair(entity=entity, crm_id=crm_id, mailbox=_text(box),
                                          exchange_id=_text(exchange_id)))
        return sorted(found, key=lambda p: (p.entity, p.mailbox, p.crm_id, p.exchange_id))

    async def untracked(self, pairs: Sequence[Pair]) -> frozenset[tuple[str, str]]:
        """(mailbox, exchange_id) of the pairs whose item is untracked (its tracking category removed)."""
        marked: set[tuple[str, str]] = set()
        for chunk in _chunks(pairs, REDIS_CHUNK):
            marks = await self.redis.mget([redis_keys.untracked(p.mailbox, p.exchange_id) for p in chunk])
            marked.update((p.mailbox, p.exchange_id) for p, mark in zip(chunk, marks, strict=True) if mark is not None)
        return frozenset(marked)


@dataclass(frozen=True)
class SideReader:
    """Reads both sides of many pairs in batches of one entity and mailbox: one Web API query and one EWS
    GetItem per batch, at most `concurrency` batches at once (the Exchange client's worker threads bound
    the EWS requests further)."""

    crm: CrmClient
    exchange: ExchangeClient
    catalogue: Catalogue
    batch_size: int = 50
    concurrency: int = 4

    async def read(
        self, pairs: Sequence[Pair], untracked: frozenset[tuple[str, str]], done: Callable[[list[Reading]], None]
    ) -> None:
        """Read every pair; `done` gets each batch's readings as it completes. The first failure cancels the
        rest and propagates (the job fails with it)."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(batch: Sequence[Pair]) -> None:
            async with gate:
                readings = await self._batch(batch, untracked)
            done(readings)

        ordered = sorted(pairs, key=lambda p: (p.entity, p.mailbox))
        try:
            async with asyncio.TaskGroup() as group:
                for _key, same in itertools.groupby(ordered, key=lambda p: (p.entity, p.mailbox)):
                    for batch in _chunks(list(same), self.batch_size):
                        group.create_task(one(batch))
        except ExceptionGroup as failed:  # the first failure is the reason; the others were cancelled with it
            raise failed.exceptions[0] from None

    async def _batch(self, batch: Sequence[Pair], untracked: frozenset[tuple[str, str]]) -> list[Reading]:
        entity, mailbox = batch[0].entity, batch[0].mailbox
        spec = self.catalogue.entities[entity]
        crm, exchange = await asyncio.gather(
            self._crm_values(spec, [p.crm_id for p in batch]),
            self._exchange_values(mailbox, entity, [p.exchange_id for p in batch]),
        )
        return [
            Reading(p, crm.get(p.crm_id.lower()), exchange.get(p.exchange_id), (p.mailbox, p.exchange_id) in untracked)
            for p in batch
        ]

    async def _crm_values(self, spec: EntitySpec, crm_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Canonical values by lower-case id; an id that is no guid names no record, so it is not asked for."""
        ids = sorted({i.lower() for i in crm_ids if _is_guid(i)})
        if not ids:
            return {}
        query = " or ".join(f"{spec.key_attribute} eq {i}" for i in ids)
        rows = await self.crm.query(spec.entity_set, select=read_attributes(spec), filter=query)
        return {str(row[spec.key_attribute]).lower(): canonical_fields(spec, row) for row in rows}

    async def _exchange_values(self, mailbox: str, entity: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Canonical values by item id; a mailbox that no longer exists holds none of them."""
        try:
            items = await self.exchange.get_items(mailbox, entity, ids)
        except NoMailbox:
            return {}
        return {item_id: exchange_fields.to_canonical(entity, item.attributes) for item_id, item in items.items()}


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
