"""What a full re-read of an entity says was deleted meanwhile: known rows the read no longer returns (pure).

When change tracking starts afresh (first start, or a delta link Dynamics no longer accepts:
ExpiredVersionStamp), the read returns every live row and no `$deletedEntity` entries: the tombstones
the old link could have shown may be gone. Each row is diffed against its snapshot as usual (a known
row is an update at most, never a create); a row that has a snapshot but is absent from the read was
deleted while fieldsync could not see it. The snapshots are listed *before* the read, so a row the
applier creates during the read is never mistaken for one that vanished.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.crm.client import Row


def read_ids(rows: Iterable[Row], key_attribute: str) -> set[str]:
    """The ids a read returned, as snapshots are keyed (lower case)."""
    return {str(row[key_attribute]).lower() for row in rows if row.get(key_attribute)}


def vanished(known: Iterable[str], read: set[str]) -> list[str]:
    """Ids with a snapshot from before the read that the read did not return, in a stable order."""
    return sorted(set(known) - read)


def is_reported(previous: object | None) -> bool:
    """A vanished row is reported only while its snapshot still exists: if it is gone (fieldsync deleted
    the row itself and forgot it meanwhile), there is nothing left to tell anyone."""
    return previous is not None
