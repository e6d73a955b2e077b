"""Which CRM entity an item of a mailbox folder is: the one its link names, else the folder's own (pure).

The capture follows each mailbox *folder* with one SyncFolderItems state, not each entity: the tasks folder
holds the Exchange tasks of four CRM entities (task, phone call, letter, fax) and the calendar those of
appointments and service activities. Were each entity polled with its own state, one entity's poll would
consume the changes of the others' items (a sync state moves past every item of the folder). So each folder
is read once per round and every changed item is classified:

| the item                        | entity                                                        |
|---------------------------------|---------------------------------------------------------------|
| linked to a CRM record          | the link's entity (a phone call's task is a phone call)       |
| linked to an entity not watched | none: left alone (that entity is not captured)                |
| not linked                      | the folder's own entity: a task tracked in Outlook becomes a  |
|                                 | CRM task, never a phone call; a calendar item an appointment  |
| not linked, a series master     | a recurring appointment (`series_or`, once the item is read:  |
| (CalendarItemType RecurringMaster) | its type is known only then), when that entity is watched   |
| not linked, own entity unwatched| none                                                          |

A linked appointment that someone made recurring in Outlook stays an appointment (its link decides); the
occurrences and exceptions of a series are never items of their own here (SyncFolderItems reports the master).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def folders_of(entities: Iterable[str], folder_of: Mapping[str, str]) -> list[str]:
    """The folders to follow for the watched entities, in the entities' order, each once."""
    return list(dict.fromkeys(folder_of[entity] for entity in entities))


def entity_of(
    folder: str, linked_entity: str | None, watched: Iterable[str], native: Mapping[str, str],
    folder_of: Mapping[str, str],
) -> str | None:  # fmt: skip
    """The entity an item of `folder` is captured as, or None when it is none of the watched ones."""
    wanted = set(watched)
    if linked_entity is not None:
        return linked_entity if linked_entity in wanted and folder_of.get(linked_entity) == folder else None
    own = native.get(folder)
    return own if own in wanted else None


def field_sets(fields: Mapping[str, Iterable[str]], folder_of: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """Per folder, every canonical field name an item of it may hold (the union over its entities): how a
    never-linked item's snapshot tells its folder (resync.py)."""
    found: dict[str, set[str]] = {}
    for entity, names in fields.items():
        if entity in folder_of:
            found.setdefault(folder_of[entity], set()).update(names)
    return {folder: frozenset(names) for folder, names in found.items()}


RECURRING_MASTER = "RecurringMaster"  # EWS CalendarItemType of a series master
RECURRING = "recurringappointmentmaster"


def series_or(entity: str, linked: bool, calendar_item_type: str | None, watched: Iterable[str]) -> str:
    """`entity` as entity_of classified the item, except that an unlinked calendar item Exchange calls a
    RecurringMaster is a recurring appointment (when that entity is watched)."""
    if not linked and entity == "appointment" and calendar_item_type == RECURRING_MASTER and RECURRING in watched:
        return RECURRING
    return entity
