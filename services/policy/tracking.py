"""Exchange-to-CRM rules: which mailbox items are tracked, and which Exchange deletes reach CRM.

Pure: no I/O, no clock (`now` is passed), no logging.

Tracking: an item created in Exchange reaches CRM only when it carries the tracking category
(appointments and tasks; never contacts). A linked item (the event carries crm_id) syncs both ways
subject to the field directions; a linked appointment or task whose categories no longer include the
tracking category arrives as a categories-only update (the capture sends no fields): that untracks,
nothing flows and nothing is deleted. Items fieldsync created from CRM carry no category, so a field
edit of a linked item without the category still flows (the untracked state is not remembered yet).
An unlinked item that gains the category later is created in CRM with every field its snapshot holds.

Deletes reaching CRM (sync-semantics 4):

| entity      | Exchange delete reaches CRM                                              |
|-------------|--------------------------------------------------------------------------|
| contact     | only if the mailbox user is the owner (a linked contact sits in its      |
|             | owner's mailbox under the owner filter, unless the context says otherwise)|
| appointment | not if completed/canceled, in the past (or unknown), or not the organizer |
| task        | yes (the organisation default)                                           |
| any         | never for an unlinked item                                               |
"""

from __future__ import annotations

from datetime import datetime

from services.policy.readings import ended_before, is_closed_appointment, known
from services.policy.verdict import TRACKABLE, TRACKING_CATEGORY, Decision, Facts, TargetDecision, outcomes_for
from shared.catalogue import EntitySpec
from shared.events import ItemChanged, Op, Policy


def is_tracked(change: ItemChanged) -> bool:
    categories = change.context.get("categories")
    return isinstance(categories, list | tuple) and TRACKING_CATEGORY in categories


def is_untracked(change: ItemChanged) -> bool:
    """A categories-only update of a trackable item that lacks the tracking category: removed, untrack."""
    return change.entity in TRACKABLE and not change.changed and not is_tracked(change)


def with_snapshot_fields(change: ItemChanged, facts: Facts) -> ItemChanged:
    """An unlinked item tracked late: its create carries every field the Exchange snapshot holds."""
    known = {k: v for k, v in facts.exchange_values.get(change.mailbox or "", {}).items() if not k.startswith("@")}
    return change.model_copy(update={"changed": {**known, **change.changed}}) if known else change


def delete_note(change: ItemChanged, facts: Facts, now: datetime) -> str | None:
    """None when the Exchange delete reaches CRM, else why it is withheld."""
    mailbox = change.mailbox
    if change.crm_id is None:
        return "not_linked"
    if change.entity == "contact":
        owner = change.context.get("owner_mailbox")
        return "not_owner" if owner is not None and owner != mailbox else None
    if change.entity == "appointment":
        if is_closed_appointment(known(change, facts, mailbox, "appointment_status")):
            return "completed_or_canceled"
        if ended_before(known(change, facts, mailbox, "appointment_time"), now) is not False:
            return "in_past"
        is_organizer = change.context.get("is_organizer")
        if is_organizer is None:
            organizer = known(change, facts, mailbox, "organizer")
            is_organizer = isinstance(organizer, str) and organizer.lower() == (mailbox or "").lower()
        return None if is_organizer else "not_organizer"
    return None


def decide_from_exchange(
    change: ItemChanged, spec: EntitySpec, policy: Policy, facts: Facts, now: datetime
) -> Decision:
    mailbox = change.mailbox
    if change.op == "delete":
        note = delete_note(change, facts, now)
        return Decision(
            (TargetDecision("crm", mailbox, None if note else "delete", {}, (), change.exchange_id, note or "delete"),)
        )
    linked = change.crm_id is not None
    if (not linked and (change.entity not in TRACKABLE or not is_tracked(change))) or (linked and is_untracked(change)):
        outcomes, _ = outcomes_for(spec, policy, change, "crm", mailbox, "untracked")
        return Decision((TargetDecision("crm", mailbox, None, {}, outcomes, change.exchange_id, "untracked"),))
    if not linked:
        change = with_snapshot_fields(change, facts)
    outcomes, allowed = outcomes_for(spec, policy, change, "crm", mailbox)
    # Unlinked and tracked: a create (the crm_applier upserts by the Exchange link, so a replay or a
    # later update that overtakes the link finds the record it made).
    op: Op = "update" if linked else "create"
    write: Op | None = op if allowed or op == "create" else None
    return Decision(
        (
            TargetDecision(
                "crm", mailbox, write, allowed, outcomes, change.exchange_id, None if write else "nothing_allowed"
            ),
        )
    )
