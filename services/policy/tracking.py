"""Exchange-to-CRM rules: which mailbox items are tracked, and which Exchange deletes reach CRM.

Pure: no I/O, no clock (`now` is passed), no logging.

Tracking (category-based, sync-semantics 3): an item created in Exchange reaches CRM only when it carries
the tracking category (appointments and tasks; never contacts). The exchange_applier puts the category
on the appointments and tasks it creates from CRM, so every linked appointment or task carries it while
it is tracked. A linked contact always syncs both ways subject to the field directions.

| linked appointment/task          | remembered untracked | result                                            |
|----------------------------------|----------------------|---------------------------------------------------|
| carries the category             | no                   | syncs (field directions)                          |
| carries the category             | yes                  | re-tracked: forget the mark; every field of its   |
|                                  |                      | snapshot flows to CRM (the item as it is now)     |
| lacks it (removed)               | no                   | untracked: remember it; nothing flows, no delete  |
| lacks it                         | yes                  | untracked: nothing flows                          |
| the event does not say           | -                    | the remembered state decides                      |
| track_categorized_items is off   | -                    | the remembered state decides (the category        |
|                                  |                      | neither untracks nor re-tracks)                   |

Removing the category untracks, never deletes: an Exchange delete of an untracked item stays out of CRM.
While untracked, CRM changes stop flowing to the item too (scope.py). An unlinked item that gains the
category later is created in CRM with every field its snapshot holds.

The organisation setting track_categorized_items (Dynamics' TrackCategorizedItems, default on) turns category
tracking off: an unlinked item carrying the category stays out of CRM (reason `untracked`, note
`category_tracking_off`), and the category no longer changes a linked item's state (the table's last row):
linked items keep syncing as they are.

Deletes reaching CRM (sync-semantics 4):

| entity      | Exchange delete reaches CRM                                              |
|-------------|--------------------------------------------------------------------------|
| contact     | only if the mailbox user is the owner (a linked contact sits in its      |
|             | owner's mailbox under the owner filter, unless the context says otherwise)|
| appointment | not if completed/canceled, in the past (or unknown), or not the organizer |
| recurring   | as an appointment; "in the past": the series' range has ended             |
| task, phone | yes (the organisation default); no when the organisation setting        |
| call, letter| delete_exchange_tasks_in_crm is off (note `tasks_kept_in_crm`): the CRM   |
| fax         | record stays and the mailbox's link to the gone item is dropped (unlink) |
| service     | never: every field is fixed CRM to Exchange, an Outlook edit or delete  |
| activity    | never reaches CRM (the next CRM change writes the item again)            |
| any         | never for an unlinked item                                               |

Security (security.py, sync-semantics 7): every CRM write acts as the mailbox's user (`acting_user`, the
crm_applier's MSCRMCallerID). An update needs the Write right on the record, a create the Create privilege, a
delete the Delete right; without it nothing reaches CRM (`no_privilege` / `no_access`). A field the user may
not update is not written (`field_security`) and CRM's value is written back to the mailbox (a
`security_writeback`, guarded by the edit), where the user may read it; a create leaves out the fields the
user may not create, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.policy.clearance import clearance, owner_of, screen
from services.policy.readings import MEETINGS, is_closed_appointment, known, meeting_ended
from services.policy.security import Security, Verb
from services.policy.verdict import (
    TRACKABLE,
    TRACKING_CATEGORY,
    Decision,
    Facts,
    TargetDecision,
    Tracking,
    outcomes_for,
)
from shared.catalogue import EntitySpec
from shared.events import ItemChanged, Op, Policy


def is_tracked(change: ItemChanged) -> bool:
    categories = change.context.get("categories")
    return isinstance(categories, list | tuple) and TRACKING_CATEGORY in categories


def syncs(change: ItemChanged, facts: Facts, by_category: bool = True) -> bool:
    """Whether a linked item is tracked now: contacts always; appointments and tasks while they carry the
    category (when the event does not report categories, or category tracking is off, the remembered state
    decides)."""
    if change.entity not in TRACKABLE:
        return True
    if by_category and isinstance(change.context.get("categories"), list | tuple):
        return is_tracked(change)
    return change.mailbox not in facts.untracked


def transition(change: ItemChanged, facts: Facts, by_category: bool = True) -> Tracking | None:
    """What to remember after this change of a linked item: untracked now, or tracked again (never while
    category tracking is off: the category then changes nothing)."""
    remembered = change.mailbox in facts.untracked
    tracked = syncs(change, facts, by_category)
    if remembered and tracked:
        return "retrack"
    if not remembered and not tracked:
        return "untrack"
    return None


def with_snapshot_fields(change: ItemChanged, facts: Facts) -> ItemChanged:
    """An unlinked item tracked late: its create carries every field the Exchange snapshot holds."""
    known = {k: v for k, v in facts.exchange_values.get(change.mailbox or "", {}).items() if not k.startswith("@")}
    return change.model_copy(update={"changed": {**known, **change.changed}}) if known else change


TASK_LIKE = frozenset({"task", "phonecall", "letter", "fax"})  # Exchange tasks, one delete rule (sync-semantics 4)


def delete_note(
    change: ItemChanged, facts: Facts, now: datetime, keep_tasks: bool = False, by_category: bool = True
) -> str | None:
    """None when the Exchange delete reaches CRM, else why it is withheld (`keep_tasks`: the organisation
    setting delete_exchange_tasks_in_crm is off; `by_category`: track_categorized_items is on)."""
    mailbox = change.mailbox
    if change.crm_id is None:
        return "not_linked"
    if not syncs(change, facts, by_category):
        return "untracked"  # removing the category untracks, never deletes
    if change.entity == "serviceappointment":
        return "fixed_to_exchange"  # CRM owns a service activity: an Outlook delete never reaches it
    if change.entity in TASK_LIKE and keep_tasks:
        return "tasks_kept_in_crm"
    if change.entity == "contact":
        owner = change.context.get("owner_mailbox")
        return "not_owner" if owner is not None and owner != mailbox else None
    if change.entity in MEETINGS:
        if is_closed_appointment(known(change, facts, mailbox, "appointment_status")):
            return "completed_or_canceled"
        if meeting_ended(change.entity, change, facts, mailbox, now) is not False:
            return "in_past"
        is_organizer = change.context.get("is_organizer")
        if is_organizer is None:
            organizer = known(change, facts, mailbox, "organizer")
            is_organizer = isinstance(organizer, str) and organizer.lower() == (mailbox or "").lower()
        return None if is_organizer else "not_organizer"
    return None


def _exchange_delete(
    change: ItemChanged, policy: Policy, facts: Facts, now: datetime, refused: str | None, acting: str | None
) -> Decision:
    """An item deleted in the mailbox: the CRM delete, or why not (the tables, the settings, the user's rights).
    A task kept in CRM by the setting loses its link too, so the record's next change is not aimed at the gone item.
    """
    settings = policy.settings
    keep_tasks = not settings.delete_exchange_tasks_in_crm
    note = delete_note(change, facts, now, keep_tasks, settings.track_categorized_items) or refused
    crm = TargetDecision("crm", change.mailbox, None if note else "delete", {}, (), change.exchange_id,
                         note or "delete", acting_user=acting)  # fmt: skip
    if note != "tasks_kept_in_crm":
        return Decision((crm,))
    unlink = TargetDecision("exchange", change.mailbox, "delete", {}, (), change.exchange_id, note, keep_item=True)
    return Decision((crm, unlink))


def _writeback(
    change: ItemChanged, facts: Facts, refused: frozenset[str], readable: Mapping[str, str]
) -> TargetDecision | None:
    """CRM's value of each edited field that was not written, back to the mailbox (the user sees what CRM holds);
    only fields the user may read and whose CRM value is known, guarded by the edit."""
    back = {
        key: facts.crm_values[key]
        for key in sorted(refused)
        if key not in readable and key in facts.crm_values and facts.crm_values[key] != change.changed.get(key)
    }
    if not back:
        return None
    expected = {key: change.changed.get(key) for key in back}
    return TargetDecision("exchange", change.mailbox, "update", back, (), change.exchange_id, "security_writeback",
                          expected=expected)  # fmt: skip


def _may_read(security: Security | None, change: ItemChanged, facts: Facts) -> bool:
    """A write-back shows CRM's values in the mailbox: only of a linked record its user may read."""
    if change.crm_id is None:
        return False
    if security is None:
        return True
    user = security.user_of(change.mailbox)
    owner = owner_of(change, facts)
    return user is not None and security.record(user, change.entity, change.crm_id, owner, "Read").allowed


def decide_from_exchange(
    change: ItemChanged, spec: EntitySpec, policy: Policy, facts: Facts, now: datetime, security: Security | None = None
) -> Decision:
    mailbox = change.mailbox
    linked = change.crm_id is not None
    verb: Verb = "Delete" if change.op == "delete" else "Write" if linked else "Create"
    seen = clearance(security, mailbox, spec, change, facts, verb)
    acting = seen.user
    by_category = policy.settings.track_categorized_items
    if change.op == "delete":
        return _exchange_delete(change, policy, facts, now, seen.record.reason if not seen.record.allowed else None,
                                acting)  # fmt: skip
    tracking = transition(change, facts, by_category) if linked else None
    reaches_crm = syncs(change, facts, by_category) if linked else change.entity in TRACKABLE and is_tracked(change)
    if not linked and reaches_crm and not by_category:
        reaches_crm, why = False, "category_tracking_off"  # the category tracks nothing while the setting is off
    else:
        why = "untracked"
    if not reaches_crm:
        outcomes, _ = outcomes_for(spec, policy, change, "crm", mailbox, "untracked")
        untracked = TargetDecision("crm", mailbox, None, {}, outcomes, change.exchange_id, why,
                                   acting_user=acting)  # fmt: skip
        return Decision((untracked,), tracking)
    if not linked or tracking == "retrack":
        # Tracked late, or again: the item as it is now (its snapshot) is what reaches CRM.
        change = with_snapshot_fields(change, facts)
    outcomes, allowed = outcomes_for(spec, policy, change, "crm", mailbox)
    if not seen.record.allowed:
        # The user may not write (or create) the record: nothing reaches CRM, and the mailbox gets CRM's values
        # back where the user may still read them.
        flowing = frozenset(allowed)
        outcomes, _ = outcomes_for(spec, policy, change, "crm", mailbox, seen.record.reason, seen.record.detail)
        refused = TargetDecision("crm", mailbox, None, {}, outcomes, change.exchange_id, seen.record.reason,
                                 acting_user=acting)  # fmt: skip
        readable = _may_read(security, change, facts)
        back = _writeback(change, facts, flowing, seen.fields.unreadable) if readable else None
        return Decision((refused, back) if back else (refused,), tracking)
    denied = seen.fields.unupdatable if linked else seen.fields.uncreatable
    suffix = "" if linked else "; the record is created without it"
    outcomes, allowed, withheld = screen(outcomes, allowed, denied, suffix)
    # Unlinked and tracked: a create (the crm_applier upserts by the Exchange link, so a replay or a
    # later update that overtakes the link finds the record it made).
    op: Op = "update" if linked else "create"
    write: Op | None = op if allowed or op == "create" else None
    note = ("retracked" if tracking else None) if write else "nothing_allowed"
    target = TargetDecision("crm", mailbox, write, allowed, outcomes, change.exchange_id, note, acting_user=acting)
    readable = _may_read(security, change, facts)
    back = _writeback(change, facts, withheld, seen.fields.unreadable) if readable else None
    return Decision((target, back) if back else (target,), tracking)
