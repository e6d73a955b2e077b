"""Which CRM entity an item read from a folder is: by its link, else by what the folder natively holds (pure).

The calendar folder holds single appointments and recurring series (their masters): a linked item is the
entity its link names, whatever it looks like now; an unlinked one is a recurring appointment when Exchange
calls it a RecurringMaster, an appointment otherwise. A linked appointment that someone made recurring in
Outlook stays an appointment (its pattern has no pair there); occurrences and exceptions of a series are
never read as items of their own (SyncFolderItems reports the master only).
"""

from __future__ import annotations

RECURRING_MASTER = "RecurringMaster"  # EWS CalendarItemType of a series master


def item_entity(folder_entity: str, linked_entity: str | None, calendar_item_type: str | None) -> str:
    """The entity of one item of `folder_entity`'s folder."""
    if linked_entity is not None:
        return linked_entity
    if folder_entity == "appointment" and calendar_item_type == RECURRING_MASTER:
        return "recurringappointmentmaster"
    return folder_entity
