"""Mailbox health, like Dynamics' mailbox status but live: per mailbox and folder, the last successful sync, items
synced, and the current error with since when. exchange_capture writes it after every poll; the admin API reads it.

A mailbox that keeps failing stays watched and keeps being reported (the error, since when, how many polls in a
row failed): nothing here disables it. One Redis hash per mailbox (`redis_keys.mailbox_health`), fields named
`{folder}:{what}`, each written without reading first (HSET, HINCRBY, HSETNX for the start of an error streak),
and a set of every mailbox ever recorded (`redis_keys.MAILBOX_HEALTH_INDEX`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from shared import redis_keys

ErrorKind = Literal["throttled", "unreachable", "permission_denied", "no_mailbox", "error"]
_PERMISSION = ("AccessDenied", "ImpersonateUserDenied", "ImpersonationDenied", "401", "403", "Unauthorized")
_THROTTLED = ("429", "ServerBusy", "Throttl", "TooManyRequests")
_UNREACHABLE = ("503", "502", "504", "onnect", "imeout", "Unavailable", "unreachable")


def classify(exc: BaseException) -> ErrorKind:
    """The kind of a failed poll, from the exception's type and text (shared.crm.client, shared.exchange.errors)."""
    text = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "NoMailbox":
        return "no_mailbox"
    if any(word in text for word in _PERMISSION):
        return "permission_denied"
    if any(word in text for word in _THROTTLED):
        return "throttled"
    if any(word in text for word in _UNREACHABLE) or isinstance(exc, ConnectionError | TimeoutError):
        return "unreachable"
    return "error"


class FolderHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    folder: str
    last_success: datetime | None = None
    items_synced: int = 0
    error: ErrorKind | None = None
    error_detail: str | None = None
    error_since: datetime | None = None
    failures: int = 0  # polls in a row that failed


class MailboxHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    mailbox: str
    folders: tuple[FolderHealth, ...]

    @property
    def failing(self) -> bool:
        return any(folder.error is not None for folder in self.folders)


class MailboxHealthSink(Protocol):
    """Where the capture records each poll's outcome (the Redis store, or nothing)."""

    async def succeeded(self, mailbox: str, folder: str, items: int, at: datetime) -> None: ...

    async def failed(self, mailbox: str, folder: str, exc: BaseException, at: datetime) -> None: ...


class NoHealth:
    """A sink that records nothing (unit tests of the loop that do not look at health)."""

    async def succeeded(self, mailbox: str, folder: str, items: int, at: datetime) -> None:
        return None

    async def failed(self, mailbox: str, folder: str, exc: BaseException, at: datetime) -> None:
        return None


class MailboxHealthStore:
    """Writes (exchange_capture) and reads (admin API) the health hashes."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def succeeded(self, mailbox: str, folder: str, items: int, at: datetime) -> None:
        key = redis_keys.mailbox_health(mailbox)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(redis_keys.MAILBOX_HEALTH_INDEX, mailbox)
            pipe.hset(key, f"{folder}:last_success", at.isoformat())
            pipe.hincrby(key, f"{folder}:items", items)
            pipe.hdel(key, f"{folder}:error", f"{folder}:error_detail", f"{folder}:error_since", f"{folder}:failures")
            await pipe.execute()

    async def failed(self, mailbox: str, folder: str, exc: BaseException, at: datetime) -> None:
        key = redis_keys.mailbox_health(mailbox)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(redis_keys.MAILBOX_HEALTH_INDEX, mailbox)
            pipe.hset(key, mapping={f"{folder}:error": classify(exc), f"{folder}:error_detail": str(exc)[:300]})
            pipe.hsetnx(key, f"{folder}:error_since", at.isoformat())
            pipe.hincrby(key, f"{folder}:failures", 1)
            pipe.hincrby(key, f"{folder}:items", 0)  # the folder is listed even before its first success
            await pipe.execute()

    async def mailboxes(self) -> list[MailboxHealth]:
        """Every recorded mailbox, sorted by address, each folder sorted by name."""
        names = sorted(_text(m) for m in await self.redis.smembers(redis_keys.MAILBOX_HEALTH_INDEX))
        found = []
        for name in names:
            raw = await self.redis.hgetall(redis_keys.mailbox_health(name))
            found.append(MailboxHealth(mailbox=name, folders=_folders(raw)))
        return found


def _folders(raw: dict[Any, Any]) -> tuple[FolderHealth, ...]:
    fields: dict[str, dict[str, str]] = {}
    for key, value in raw.items():
        folder, _, what = _text(key).rpartition(":")
        fields.setdefault(folder, {})[what] = _text(value)
    return tuple(
        FolderHealth(
            folder=folder,
            last_success=_time(f.get("last_success")),
            items_synced=int(f.get("items", 0)),
            error=f.get("error"),  # written by classify: one of ErrorKind (pydantic checks it)
            error_detail=f.get("error_detail"),
            error_since=_time(f.get("error_since")),
            failures=int(f.get("failures", 0)),
        )
        for folder, f in sorted(fields.items())
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


NO_HEALTH = NoHealth()
