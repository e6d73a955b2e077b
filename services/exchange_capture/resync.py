"""What a full re-read of a folder says was deleted meanwhile: its known items the read no longer returns (pure).

When a folder is synced afresh (first start, or a SyncState Exchange no longer accepts:
ErrorInvalidSyncStateData), SyncFolderItems returns every item of the folder as a create and no deletes.
Each item is diffed against its snapshot as usual (a known item is an update at most, never a create);
an item of this folder that has a snapshot but is absent from the read was deleted (or moved out) while
fieldsync could not see it. Snapshots are keyed by mailbox, not folder, so which folder a snapshot
belongs to is told by its link (a linked item names its entity, and so its folder) or, for an item never
linked, by its fields: a captured snapshot holds every mapped field of its folder's own entity, and the
folders' field sets (folder.field_sets) differ. A snapshot that fits no single folder is left alone.
The snapshots are listed *before* the read, so an item the applier creates during it is never mistaken for
one that vanished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# A folder's canonical field names (folder.field_sets), by folder: the shapes snapshots are told apart by.
FieldSets = Mapping[str, frozenset[str]]


def in_folder(folder: str, snapshot: Mapping[str, Any], linked_folder: str | None, fields: FieldSets) -> bool:
    """True when the snapshot is of an item of `folder` (`linked_folder`: the folder of the linked entity)."""
    if linked_folder is not None:
        return linked_folder == folder
    names = {key for key in snapshot if not key.startswith("@")}
    fitting = [name for name, known in fields.items() if names <= known]
    return bool(names) and fitting == [folder]


def vanished(
    folder: str,
    candidates: Iterable[tuple[str, Mapping[str, Any] | None, str | None]],
    read: set[str],
    fields: FieldSets,
) -> list[str]:
    """Of (exchange_id, snapshot, linked entity's folder) known before the read, the ids of this folder's items
    the read did not return and whose snapshot still exists, in a stable order."""
    return sorted(
        exchange_id
        for exchange_id, snapshot, linked in candidates
        if exchange_id not in read and snapshot is not None and in_folder(folder, snapshot, linked, fields)
    )
