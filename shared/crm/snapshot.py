"""A CRM row as last seen (snapshot) and what fieldsync last wrote to it (echo): one encoding, shared by
crm_capture (which diffs rows against it) and crm_applier (which records its own writes in it). Pure."""

from __future__ import annotations

from typing import Any

from shared.catalogue import EntitySpec
from shared.crm.fields import Row, canonical_fields
from shared.item_state import Echo as Echo  # one echo record for both twins

# Snapshot keys that are not fields (a field key never starts with "@").
OWNER, OWNER_MAILBOX, STATE, VERSION = "@ownerid", "@owner_mailbox", "@statecode", "@version"
# The row's CRM attributes as read (Web API names, no annotations): what the sync filters evaluate
# (shared.filter_set), kept so that a refresh after a filter change can evaluate and carry them.
ATTRIBUTES = "@attributes"
# The versionnumber at which the snapshot is known to be the whole row: set by a read, and by an applier write
# made against the snapshot's own etag; an applier write over a row read anew moves VERSION only (the row may
# hold changes the capture has not reported yet, so the snapshot is no base for an unread write).
EXACT = "@exact"
Snapshot = dict[str, Any]


def _id(value: Any) -> str | None:
    return str(value).lower() if value else None


def snapshot_of(spec: EntitySpec, row: Row, owner_mailbox: str | None) -> Snapshot:
    """Every field's canonical value plus the context that decides scope, as stored after a change."""
    version = row.get("versionnumber")
    return {
        **canonical_fields(spec, row),
        OWNER: _id(row.get("_ownerid_value")),
        OWNER_MAILBOX: owner_mailbox,
        STATE: row.get("statecode"),
        VERSION: str(version) if version is not None else None,
        EXACT: str(version) if version is not None else None,
        ATTRIBUTES: {key: value for key, value in row.items() if "@" not in key},  # no @odata.etag, no annotations
    }


def attributes_of(snapshot: Snapshot) -> dict[str, Any]:
    """The record's attributes for the sync filters; a snapshot stored before they were kept has its owner and
    state at least."""
    kept = snapshot.get(ATTRIBUTES)
    if isinstance(kept, dict):
        return dict(kept)
    return {"_ownerid_value": snapshot.get(OWNER), "statecode": snapshot.get(STATE)}


def _version(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def is_older(row: Row, previous: Snapshot | None) -> bool:
    """The row's versionnumber (rowversion, growing in commit order) is below the snapshot's."""
    seen, read = _version((previous or {}).get(VERSION)), _version(row.get("versionnumber"))
    return seen is not None and read is not None and read < seen


def fields_of(snapshot: Snapshot) -> dict[str, Any]:
    return {key: value for key, value in snapshot.items() if not key.startswith("@")}


DELETED = "deleted"  # the echo version an applier records after deleting a row itself
