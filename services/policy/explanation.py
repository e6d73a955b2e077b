"""Explanation: one TargetNote per target of a decision, saying what that target received and why.

Pure: no I/O, no clock, no logging. The codes are the `note`s the rules in scope.py, tracking.py and
decide.py give a target; a write without a note is explained by its op.
"""

from __future__ import annotations

from services.policy.verdict import Decision, TargetDecision
from shared.events import TargetNote

DETAILS: dict[str, str] = {
    "create": "created in the target",
    "update": "the allowed fields are written to the target",
    "delete": "the delete reaches the target",
    "retracked": "the tracking category is back: the item syncs again and its current fields go to CRM",
    "nothing_allowed": "no changed field flows in this direction",
    "already_agreed": "the other side already holds these values (fieldsync's own write, or the same edit)",
    "conflict_lost": "the field changed on both sides since they last agreed and the other side's value won",
    "conflict_writeback": "the winning value of a conflict, written back to the side whose change lost",
    "out_of_scope": "the record does not belong in this mailbox: no enabled sync filter of its user takes it",
    "untracked": "the mailbox item is not tracked (no tracking category): nothing syncs between it and CRM",
    "echo": "fieldsync's own write coming back: nothing moves",
    "unmapped": "the catalogue does not map this entity",
    "not_linked": "no counterpart is linked: there is nothing to delete",
    "owner_keeps_contact": "a CRM contact delete never removes the owner's Outlook contact",
    "logical_delete": "the record left the mailbox's scope; an appointment is not deleted for that",
    "not_organizer": "the mailbox user is not the organizer of the appointment",
    "not_in_future": "the appointment is not in the future",
    "task_completed": "the Exchange task is completed",
    "not_owner": "only the owner's mailbox deletes a CRM contact",
    "completed_or_canceled": "the appointment is completed or canceled",
    "in_past": "the appointment is over (or its time is unknown)",
    "no_privilege": "the mailbox's user holds no privilege for this entity (or the mailbox is no CRM user's)",
    "no_access": "the mailbox's user holds the privilege, but its depth and the record's shares do not reach it",
    "security_writeback": "CRM's value, written back to the mailbox in place of an edit the user may not make",
    "security_cleared": "fields the mailbox's user may no longer read are cleared from the mailbox item",
    "logical_unlink": "the record left the mailbox's scope and distinct_physical_and_logical_deletes is on: "
    "the item is unlinked instead of deleted",
    "tasks_kept_in_crm": "delete_exchange_tasks_in_crm is off: an Exchange delete of a task, phone call, letter or "
    "fax does not delete the CRM record",
    "category_tracking_off": "track_categorized_items is off: the tracking category does not track an Outlook item "
    "to CRM",
}
UNLINKED = "; the mailbox keeps its item and the link to the deleted record is removed"
# An unlink whose record still exists: it left the mailbox's scope, or its item was deleted in the mailbox.
LEFT = "; the mailbox keeps its item, without the tracking category, and fieldsync forgets the link"
UNLINKS: dict[str, str] = {
    "logical_unlink": LEFT, "no_privilege": LEFT, "no_access": LEFT,
    "tasks_kept_in_crm": "; fieldsync forgets the link to the item deleted in the mailbox",
}


def note_for(target: TargetDecision) -> TargetNote:
    """The note of one target: a withheld delete says why, an unlink says the item stays."""
    reason = target.note or target.op or "nothing_allowed"
    detail = DETAILS.get(reason, reason)
    if target.detail:
        detail += f": {target.detail}"
    if target.effect == "unlink":
        detail += UNLINKS.get(reason, UNLINKED)
    return TargetNote(target=target.target, mailbox=target.mailbox, effect=target.effect, reason=reason, detail=detail)


def notes_for(decision: Decision) -> tuple[TargetNote, ...]:
    return tuple(note_for(target) for target in decision.targets)
