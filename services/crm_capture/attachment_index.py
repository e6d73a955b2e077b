"""The files of each CRM appointment as crm_capture last read them, followed through activitymimeattachments.

An appointment's files are no attribute of its row, and adding one does not change the row's version (as in
Dynamics). So the capture follows change tracking on activitymimeattachments beside the appointments' own: each
round reads the attachment rows changed since its delta link, reads the bytes of a file it has no digest for
(shared.attachment_store), keeps every appointment's entries in Redis, and names the appointments whose files
changed; the appointment poll then diffs those rows too, each row carrying its entries under the pair's key.

Lifecycle: `follow()` is called at the start of each appointment round and returns the appointments to re-read
and the attachment delta link; the loop stores that link (`commit`) only once the round's events are acked, so a
crash replays the attachment page (the index is then rewritten with the same entries: idempotent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from shared import redis_keys
from shared.attachment_store import AttachmentStore
from shared.attachments import KEY, canonical
from shared.crm.attachments import CrmAttachments
from shared.crm.fields import Row

CURSOR = "activitymimeattachment"  # the attachments' own delta link, beside the entities' (redis_keys.crm_cursor)
SYSTEM = "crm"


@dataclass(frozen=True)
class Followed:
    parents: set[str]  # the appointments whose files changed this round
    delta_link: str  # to store once the round's events are acked


@dataclass
class AttachmentIndex:
    files: CrmAttachments
    store: AttachmentStore
    redis: Redis

    async def follow(self) -> Followed:
        link = await self.redis.get(redis_keys.crm_cursor(CURSOR))
        page = await self.files.changes(link.decode() if isinstance(link, bytes) else link)
        parents: set[str] = set()
        resolved = await self.store.entries(SYSTEM, [(f, f.version or "") for f in page.rows], self.files.content)
        for file, (attachment_id, entry) in zip(page.rows, resolved, strict=True):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(redis_keys.crm_attachments_of(file.parent_id), attachment_id, json.dumps(entry))
                pipe.set(redis_keys.crm_attachment_parent(attachment_id), file.parent_id)
                await pipe.execute()
            parents.add(file.parent_id)
        for attachment_id in page.deleted:
            parent = await self.redis.get(redis_keys.crm_attachment_parent(attachment_id))
            if parent is None:
                continue  # never indexed (another parent type, or deleted before it was read)
            parent_id = parent.decode() if isinstance(parent, bytes) else str(parent)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(redis_keys.crm_attachments_of(parent_id), attachment_id)
                pipe.delete(redis_keys.crm_attachment_parent(attachment_id))
                await pipe.execute()
            parents.add(parent_id)
        return Followed(parents, page.delta_link)

    async def commit(self, followed: Followed) -> None:
        await self.redis.set(redis_keys.crm_cursor(CURSOR), followed.delta_link)

    async def with_files(self, rows: list[Row], key_attribute: str) -> list[Row]:
        """Each row with its appointment's entries under the pair's key (None: no file)."""
        out = []
        for row in rows:
            raw = await self.redis.hvals(redis_keys.crm_attachments_of(str(row[key_attribute]).lower()))
            out.append({**row, KEY: canonical(json.loads(v) for v in raw)})
        return out
