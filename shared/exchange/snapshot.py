"""An Exchange item as last seen (snapshot) and what fieldsync last wrote to it (echo): one encoding, shared by
exchange_capture (which diffs items against it) and exchange_applier (which records its own writes in it). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.item_state import Echo as Echo  # one echo record for both twins

# Snapshot keys that are not fields (a field key never starts with "@").
CATEGORIES, IS_ORGANIZER, VERSION = "@categories", "@is_organizer", "@version"
# The ChangeKey at which the snapshot is known to be the whole item: set by a read, and by an applier write
# made against the snapshot's own ChangeKey; an applier write over an item read anew moves VERSION only.
EXACT = "@exact"
Snapshot = dict[str, Any]


@dataclass(frozen=True)
class Observed:
    """One item as read from a mailbox: canonical values of every mapped field plus deciding context."""

    values: dict[str, Any]
    version: str | None  # ChangeKey
    modified_at: datetime | None
    categories: tuple[str, ...] = ()
    is_organizer: bool | None = None  # calendar items only
    # The item is one the exchange_applier is creating and has not recorded yet (its creation marker is pending).
    own_create: bool = False


def snapshot_of(observed: Observed) -> Snapshot:
    return {
        **observed.values,
        CATEGORIES: list(observed.categories),
        IS_ORGANIZER: observed.is_organizer,
        VERSION: observed.version,
        EXACT: observed.version,
    }


def fields_of(snapshot: Snapshot) -> dict[str, Any]:
    return {key: value for key, value in snapshot.items() if not key.startswith("@")}
