"""The ids the policy gives the events it derives from a change: deterministic, so explain can join them.

A SyncDecision's causation_id is the change's event id; each ItemDelta it sends has the id `delta_id(change id,
target, mailbox)`, and the DeltaApplied of that delta names it as its causation_id. A replayed change derives the
same ids (the appliers drop repeats), and the explain log joins a decision to its appliers' results by them.
"""

from __future__ import annotations

import uuid

from shared.events import System

# uuid5 namespace for the ids of events the policy derives from a change (fixed: changing it changes every id).
EVENT_NAMESPACE = uuid.UUID("6f0e3c1e-8d1a-4b59-9a57-3c1b2f4d7e10")


def derived_id(change_event_id: str, part: str) -> str:
    """The id of the event `part` (e.g. "decision") derived from one change."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{change_event_id}/{part}"))


def delta_id(change_event_id: str, target: System, mailbox: str | None) -> str:
    """The id of the delta one change sends to `target` (a CRM delta names the mailbox of its pair, or None)."""
    return derived_id(change_event_id, f"delta/{target}/{mailbox}")


def decision_id(change_event_id: str) -> str:
    return derived_id(change_event_id, "decision")
