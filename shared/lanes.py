"""Lanes of a fetched partition batch: one per key, in offset order, and how far the batch may be committed (pure).

An applier may work on different keys at once, but the deltas of one key must be applied in the order
the partition holds them, and an offset may be committed only when its record and every record before
it in that partition are done. These two rules, without I/O, so they can be tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

R = TypeVar("R")


def lanes(records: Iterable[R], key: Callable[[R], Hashable]) -> list[list[R]]:
    """The records grouped by key, each group in the order given; groups ordered by their first record."""
    grouped: dict[Hashable, list[R]] = {}
    for record in records:
        grouped.setdefault(key(record), []).append(record)
    return list(grouped.values())


def commit_offset(offsets: Sequence[int], unfinished: Iterable[int]) -> int | None:
    """The offset to commit after a batch: one past the last record before the first unfinished one.

    `offsets` are the batch's offsets in partition order; `unfinished` the offsets that failed or were
    not attempted (a later record of the same key as a failed one). None: nothing may be committed.
    """
    if not offsets:
        return None
    stop = min(unfinished, default=None)
    if stop is None:
        return offsets[-1] + 1
    done = [offset for offset in offsets if offset < stop]
    return done[-1] + 1 if done else None
