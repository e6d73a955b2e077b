"""Dead-letter replay and discard: re-publish the original bytes to their topic, or set them aside, audited."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from services.admin_api.service import PolicyError
from shared import topics
from shared.dead_letter_log import AuditEntry, DeadLetter, DeadLetterLog

REPLAYED_FROM_HEADER = "fs-replayed-from"
REPLAYED_BY_HEADER = "fs-replayed-by"
REPLAYABLE = frozenset(t.full_name for t in topics.ALL if t is not topics.DEADLETTER)


class NotReplayable(PolicyError):
    status = 409


class UnknownDeadLetter(PolicyError):
    status = 404


class MissingReason(PolicyError):
    status = 422


class Sender(Protocol):
    """The app's producer (PolicyPublisher.send): publishes one record and waits for the ack, or raises."""

    async def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]], partition: int | None
    ) -> None: ...


def replay_refusal(letter: DeadLetter) -> str | None:
    """Why a letter cannot be replayed, or None."""
    if letter.status == "discarded":
        return f"dead letter {letter.letter_id} was discarded; it is kept for the record only"
    if letter.origin_topic not in REPLAYABLE:
        return f"dead letter {letter.letter_id} names no fieldsync topic to replay to ({letter.origin_topic!r})"
    return None


async def replay(
    log: DeadLetterLog, sender: Sender, letter: DeadLetter, actor: str, now: Callable[[], datetime]
) -> DeadLetter:
    """Re-publish the letter's original key and bytes to its origin topic and partition, then record who did it.

    The consumers are idempotent (the appliers' applied versions, the policy's derived ids, the recorder's ids):
    a letter replayed twice, or replayed after its event was applied some other way, changes nothing."""
    refusal = replay_refusal(letter)
    if refusal is not None:
        raise NotReplayable(refusal)
    key = letter.key.encode() if letter.key is not None else None
    headers = [(REPLAYED_FROM_HEADER, letter.letter_id.encode()), (REPLAYED_BY_HEADER, actor.encode())]
    await sender.send(letter.origin_topic, letter.value, key, headers, letter.origin_partition)
    entry = AuditEntry(action="replayed", letter_id=letter.letter_id, actor=actor, at=now(), topic=letter.origin_topic)
    return await log.mark(letter, entry)


async def replay_all(
    log: DeadLetterLog, sender: Sender, letters: Sequence[DeadLetter], actor: str, now: Callable[[], datetime]
) -> tuple[list[DeadLetter], list[str]]:
    """Replay each letter that can be, in the order given; the replayed ones and why the others were not."""
    done: list[DeadLetter] = []
    skipped: list[str] = []
    for letter in letters:
        refusal = replay_refusal(letter)
        if refusal is not None:
            skipped.append(refusal)
            continue
        done.append(await replay(log, sender, letter, actor, now))
    return done, skipped


async def discard(
    log: DeadLetterLog, letter: DeadLetter, actor: str, reason: str, now: Callable[[], datetime]
) -> DeadLetter:
    """Set a letter aside for good (it stays listed, as discarded), with who and why."""
    if not reason.strip():
        raise MissingReason("a discard needs a reason")
    entry = AuditEntry(action="discarded", letter_id=letter.letter_id, actor=actor, at=now(), reason=reason.strip())
    return await log.mark(letter, entry)
