"""Pure rules of SyncFolderItems: the opaque sync state, paging the change log and coalescing changes."""

from __future__ import annotations

import base64
from dataclasses import dataclass

CREATE, UPDATE, DELETE = "create", "update", "delete"
_STATE_PREFIX = "fsync1"


# What Exchange answers for a sync state it does not accept (SyncFolderItems, error response example).
INVALID_STATE_TEXT = "Synchronization state data is corrupt or otherwise invalid."


class InvalidSyncState(ValueError):
    """The sync state was not issued by this server for this folder, or it was expired since."""


def encode_state(folder_id: str, seq: int, generation: int = 0) -> str:
    """The state names the folder, the last change-log sequence the client has been given and the server's
    generation of sync states (an expiry starts a new one); generation 0 keeps the original three parts."""
    parts = [_STATE_PREFIX, folder_id, str(seq)] + ([str(generation)] if generation else [])
    return base64.b64encode("|".join(parts).encode()).decode()


def decode_state(state: str | None, folder_id: str, generation: int = 0) -> int:
    """The sequence a state stands at; InvalidSyncState for a forged, foreign or expired one."""
    if not state:
        return 0
    try:
        prefix, owner, seq, *issued = base64.b64decode(state, validate=True).decode().split("|")
        value, issued_in = int(seq), int(issued[0]) if issued else 0
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSyncState("the sync state is not valid") from exc
    if prefix != _STATE_PREFIX or owner != folder_id or value < 0 or len(issued) > 1:
        raise InvalidSyncState("the sync state belongs to another folder")
    if issued_in != generation:
        raise InvalidSyncState("the sync state has expired")
    return value


@dataclass(frozen=True)
class LoggedChange:
    seq: int
    item_id: str
    kind: str


@dataclass(frozen=True)
class Window:
    """Coalesced changes of one page: (kind, item_id) in order of last change, and the page's last sequence."""

    changes: list[tuple[str, str]]
    last_seq: int
    complete: bool


def plan_window(log: list[LoggedChange], since: int, max_changes: int, log_exhausted: bool) -> Window:
    """Take changes after `since` (in sequence order) until `max_changes` distinct items are reached.

    Changes of one item coalesce like Exchange does: create+update is a create, update+delete a delete,
    create+delete nothing. `log_exhausted` says whether `log` holds every change after `since`.
    """
    first_kind: dict[str, str] = {}
    last_kind: dict[str, str] = {}
    last_seq_of: dict[str, int] = {}
    last_seq = since
    complete = log_exhausted
    for change in log:
        if change.item_id not in first_kind:
            if len(first_kind) >= max_changes:
                complete = False
                break
            first_kind[change.item_id] = change.kind
        last_kind[change.item_id] = change.kind
        last_seq_of[change.item_id] = change.seq
        last_seq = change.seq
    changes = []
    for item_id in sorted(first_kind, key=last_seq_of.__getitem__):
        created, deleted = first_kind[item_id] == CREATE, last_kind[item_id] == DELETE
        if created and deleted:
            continue
        changes.append((DELETE if deleted else CREATE if created else UPDATE, item_id))
    return Window(changes, last_seq, complete)
