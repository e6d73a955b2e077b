"""The attachment content store on a real redis-server: bytes by SHA-256 with a TTL, each side's digests remembered
per attachment version, bytes read once, read again once they expired, never stored over the cap."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from shared import redis_keys
from shared.attachment_store import AttachmentStore
from shared.attachments import digest, entry

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class File:
    attachment_id: str
    name: str
    content_type: str


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class Reader:
    """A side's content reads, counted."""

    def __init__(self, contents: dict[str, bytes]) -> None:
        self.contents, self.reads = contents, 0

    async def __call__(self, attachment_id: str) -> bytes:
        self.reads += 1
        return self.contents[attachment_id]


async def test_bytes_are_read_once_and_relayed_by_digest(redis: Redis) -> None:
    store, small = AttachmentStore(redis, cap_bytes=10), File(str(uuid.uuid4()), "a.txt", "text/plain")
    content = uuid.uuid4().bytes[:8]
    read = Reader({small.attachment_id: content})
    [(attachment_id, entry)] = await store.entries("crm", [(small, "1")], read)
    assert attachment_id == small.attachment_id
    assert entry == {"name": "a.txt", "content_type": "text/plain", "size": 8, "sha256": digest(content)}
    assert await store.get(digest(content)) == content
    await store.entries("crm", [(small, "1")], read)
    assert read.reads == 1  # remembered for that version
    await store.entries("crm", [(small, "2")], read)
    assert read.reads == 2  # a new version (its body patched) is read again


async def test_a_file_over_the_cap_has_a_digest_but_no_stored_bytes(redis: Redis) -> None:
    store, big = AttachmentStore(redis, cap_bytes=4), File(str(uuid.uuid4()), "big.bin", "application/octet-stream")
    content = b"0123456789" + uuid.uuid4().bytes
    read = Reader({big.attachment_id: content})
    [(_, entry)] = await store.entries("exchange", [(big, "1")], read)
    assert entry["size"] == len(content) and entry["sha256"] == digest(content)
    assert await store.get(digest(content)) is None
    await store.entries("exchange", [(big, "1")], read)
    assert read.reads == 1  # its digest is enough: the bytes are never wanted


async def test_expired_bytes_are_read_again(redis: Redis) -> None:
    store, file = AttachmentStore(redis, cap_bytes=100), File(str(uuid.uuid4()), "n.md", "text/markdown")
    content = uuid.uuid4().bytes
    read = Reader({file.attachment_id: content})
    await store.entries("exchange", [(file, "1")], read)
    await redis.delete(redis_keys.attachment_content(digest(content)))  # as the TTL would
    await store.entries("exchange", [(file, "1")], read)
    assert read.reads == 2 and await store.get(digest(content)) == content


async def test_an_applier_write_is_remembered_without_a_read(redis: Redis) -> None:
    store, file = AttachmentStore(redis, cap_bytes=100), File(str(uuid.uuid4()), "w.txt", "text/plain")
    content = uuid.uuid4().bytes
    await store.put(content)
    await store.remember("exchange", file.attachment_id, "1", content)
    read = Reader({})
    [(_, entry)] = await store.entries("exchange", [(file, "1")], read)
    assert read.reads == 0 and entry["sha256"] == digest(content)


async def test_prepare_plans_within_the_cap_with_the_bytes_and_names_what_it_cannot_copy(redis: Redis) -> None:
    store = AttachmentStore(redis, cap_bytes=32)
    kept, added = uuid.uuid4().bytes, uuid.uuid4().bytes
    old = entry("old.txt", "text/plain", 3, digest(b"old"))
    keep = entry("keep.bin", "application/octet-stream", len(kept), digest(kept))
    add = entry("add.bin", "application/octet-stream", len(added), await store.put(added))
    big = entry("big.iso", "application/octet-stream", 33, "d" * 64)
    ready = await store.prepare([("1", old), ("2", keep)], [keep, add, big])
    assert ready.planned.remove == ("1",) and ready.contents == ((add, added),) and ready.too_large == (big,)
    assert ready.after == sorted([keep, add], key=lambda e: e["name"]) and ready.missing is None
    assert ready.announcement["attachments"] == ready.after
    assert ready.announcement["@steps"]["attachments"] == [[keep], ready.after]  # old removed, then add added
    gone = entry("gone.bin", "application/octet-stream", 4, digest(b"gone"))  # never stored, or expired
    assert (await store.prepare([], [gone])).missing == gone
