"""Reads an Inventory (bench/accounting.py): every record and item the traffic can change, and the links.

Edge code, through the production clients: the Web API (one query per entity set, the traffic's fields),
EWS (SyncFolderItems from the start lists each folder's items, GetItem reads them, values made canonical
as the capture makes them), and fieldsync's links from Redis (SCAN of the link hashes and keys). Read with
the faults off: it retries nothing itself beyond what the clients do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from bench.accounting import Inventory
from infra.runner.stack import Stack
from infra.sandbox.traffic_crm import CRM_FIELDS
from infra.sandbox.traffic_pairs import LinkedPair
from shared import redis_keys
from shared.crm.client import CrmClient
from shared.exchange import fields as exchange_fields
from shared.exchange.client import ExchangeClient

ENTITIES = tuple(entity for entity, _, _ in CRM_FIELDS.values())
BATCH = 100  # items per GetItem


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _records(crm: CrmClient) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for entity_set, (entity, key, fields) in CRM_FIELDS.items():
        rows = await crm.query(entity_set, select=[key, *fields])
        found[entity] = {str(row[key]): {f: row.get(f) for f in fields} for row in rows}
    return found


async def _folder(exchange: ExchangeClient, mailbox: str, entity: str) -> dict[str, dict[str, Any]]:
    ids: list[str] = []
    state: str | None = None
    while True:
        page = await exchange.sync_page(mailbox, entity, state)
        ids += [c.exchange_id for c in page.changes if c.kind == "create"]
        state = page.sync_state
        if page.complete:
            break
    values: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), BATCH):
        found = await exchange.get_items(mailbox, entity, ids[start:start + BATCH])
        values.update({x: exchange_fields.to_canonical(entity, item.attributes) for x, item in found.items()})
    return values


async def _links(redis: Redis) -> tuple[dict[tuple[str, str], dict[str, str]], dict[tuple[str, str], str]]:
    links: dict[tuple[str, str], dict[str, str]] = {}
    async for key in redis.scan_iter(match=redis_keys.link_by_crm_pattern(), count=1000):
        entity, crm_id = _text(key).rsplit(":", 2)[-2:]
        links[(entity, crm_id)] = {_text(k): _text(v) for k, v in (await redis.hgetall(key)).items()}
    item_links: dict[tuple[str, str], str] = {}
    async for key in redis.scan_iter(match=redis_keys.link_by_exchange("*", "*"), count=1000):
        mailbox, exchange_id = _text(key).rsplit(":", 2)[-2:]
        value = await redis.get(key)
        if value is not None:
            item_links[(mailbox, exchange_id)] = _text(value)
    return links, item_links


async def read_inventory(stack: Stack, mailboxes: list[str]) -> Inventory:
    settings = stack.settings.client_settings()
    redis = Redis.from_url(stack.settings.stack_redis_url)
    exchange = ExchangeClient(settings)
    try:
        async with CrmClient.from_settings(settings) as crm:
            records = await _records(crm)
        folders = [(box, entity) for box in mailboxes for entity in ENTITIES]
        read = await asyncio.gather(*(_folder(exchange, box, entity) for box, entity in folders))
        links, item_links = await _links(redis)
    finally:
        await exchange.close()
        await redis.aclose()
    return Inventory(records, dict(zip(folders, read, strict=True)), links, item_links)


def linked_pairs(inventory: Inventory) -> list[LinkedPair]:
    """Every link whose record and item both exist: what the traffic may edit on both sides."""
    return [
        LinkedPair(entity, crm_id, box, exchange_id)
        for (entity, crm_id), boxes in sorted(inventory.links.items()) for box, exchange_id in sorted(boxes.items())
        if crm_id in inventory.records.get(entity, {}) and exchange_id in inventory.items.get((box, entity), {})
    ]
