"""Attachment content by SHA-256 in Redis, and each side's attachment digests, so content is read once.

A capture that sees a file reads its bytes once, stores them here under their SHA-256 (with a TTL: the store is a
relay, not an archive) and remembers that attachment's digest at that version; the applier of the other side
takes the bytes from here to write them. Bytes over the size cap are never stored (shared.attachments), and a
file whose bytes expired is read again by the capture the next time it sees the file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from shared import redis_keys
from shared.attachments import KEY, AttachmentPlan, Entry, canonical, digest, entry, oversized, plan, steps
from shared.item_state import ANNOUNCED_STEPS

WEEK_S = 7 * 24 * 3600


class Held(Protocol):
    """One file of an item as its side lists it, without content (shared.crm / shared.exchange attachments)."""

    @property
    def attachment_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def content_type(self) -> str: ...


Reader = Callable[[str], Awaitable[bytes]]  # attachment id -> its bytes, read from its side


@dataclass(frozen=True)
class Prepared:
    """An applier's write of an item's files, ready: the plan, the bytes of each file to add, what it leaves."""

    planned: AttachmentPlan
    held: list[Entry] | None  # the files the item holds now
    after: list[Entry] | None  # the files it holds once the plan is carried out
    passed: list[list[Entry] | None]  # the values on the way (shared.attachments.steps)
    contents: tuple[tuple[Entry, bytes], ...]
    too_large: tuple[Entry, ...]  # wanted, over the cap: never copied
    missing: Entry | None = None  # a file to add whose bytes are no longer held

    @property
    def announcement(self) -> dict[str, Any]:
        """What the applier announces before it starts (shared.item_state: the echo of each step too)."""
        return {KEY: self.after, ANNOUNCED_STEPS: {KEY: self.passed}}


class AttachmentStore:
    def __init__(self, redis: Redis, cap_bytes: int, ttl_s: int = WEEK_S) -> None:
        self._redis = redis
        self.cap_bytes = cap_bytes
        self._ttl_s = ttl_s

    async def put(self, content: bytes) -> str:
        """Store the bytes under their SHA-256 (refreshing the TTL of bytes already there); returns it."""
        sha = digest(content)
        await self._redis.set(redis_keys.attachment_content(sha), content, ex=self._ttl_s)
        return sha

    async def get(self, sha256: str) -> bytes | None:
        value = await self._redis.get(redis_keys.attachment_content(sha256))
        return value if value is None or isinstance(value, bytes) else value.encode()

    async def entries(
        self, system: str, files: Sequence[tuple[Held, str]], read: Reader
    ) -> list[tuple[str, Entry]]:
        """(attachment id, field entry) of each (file, its version): the digest remembered for that version while
        its bytes are still held (their TTL refreshed), else read, stored and remembered now."""
        found: list[tuple[str, Entry]] = []
        for file, version in files:
            key = redis_keys.attachment_digest(system, file.attachment_id, version)
            remembered = await self._redis.get(key)
            sha, size = _parse(remembered)
            fresh = sha is not None and (
                size > self.cap_bytes or await self._redis.expire(redis_keys.attachment_content(sha), self._ttl_s)
            )
            if not fresh:
                content = await read(file.attachment_id)
                sha, size = digest(content), len(content)
                if size <= self.cap_bytes:
                    await self.put(content)
                await self._redis.set(key, f"{sha} {size}", ex=self._ttl_s)
            assert sha is not None
            found.append((file.attachment_id, entry(file.name, file.content_type, size, sha)))
        return found

    async def prepare(self, current: Sequence[tuple[str, Entry]],
                      wanted: Sequence[Mapping[str, Any]] | None) -> Prepared:  # fmt: skip
        """The plan from the files an item holds (`current`) to the wanted ones within the cap, with the bytes."""
        fitting = [f for f in wanted or () if f["size"] <= self.cap_bytes]
        planned = plan(current, fitting)
        contents: list[tuple[Entry, bytes]] = []
        missing = None
        for file in planned.add:
            content = await self.get(file["sha256"])
            if content is None:
                missing = file
                break
            contents.append((file, content))
        return Prepared(planned, canonical(e for _, e in current), canonical(fitting), steps(current, planned),
                        tuple(contents), tuple(oversized(wanted, self.cap_bytes)), missing)  # fmt: skip

    async def remember(self, system: str, attachment_id: str, version: str, content: bytes) -> None:
        """An applier wrote these bytes as that attachment: its digest is known without reading them back."""
        key = redis_keys.attachment_digest(system, attachment_id, version)
        await self._redis.set(key, f"{digest(content)} {len(content)}", ex=self._ttl_s)


def _parse(value: bytes | str | None) -> tuple[str | None, int]:
    if value is None:
        return None, 0
    sha, _, size = (value.decode() if isinstance(value, bytes) else value).partition(" ")
    return sha, int(size or 0)
