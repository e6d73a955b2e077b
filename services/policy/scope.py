"""CRM-to-Exchange rules: which mailbox a record belongs in (default sync filters) and which deletes reach it.

Pure: no I/O, no clock (`now` is passed), no logging.

Scope (membership.py): a record belongs in every synced user's mailbox where one of that user's enabled sync
filters for the entity takes it and the user may read it. A record that starts belonging is a create there (whole:
what the change lacks comes from the capture's snapshot); one that stops (a field changed, a filter changed or was
disabled, access lost, reassigned) is a logical delete there (`_leave`, the one place; `logical_delete.leave`
turns it into an unlink when the organisation setting `distinct_physical_and_logical_deletes` is on).

Deletes reaching Exchange (sync-semantics 4):

| entity      | CRM delete (physical)                                   | logical delete (left the scope)  |
|-------------|---------------------------------------------------------|----------------------------------|
| contact     | only in mailboxes that are not the owner's: the owner's | delete (the organisation default)|
|             | own copy stays (filters put it only there: in practice  | or unlink (the setting below)    |
|             | a CRM contact delete leaves the owner's Outlook contact)|                                  |
| appointment | linked, mailbox user is the organizer, starts after now | never                            |
| recurring   | as an appointment; "starts after now": the series has   | never                            |
|             | occurrences to come (its range has not ended)           |                                  |
| task, phone | only if the Exchange task is not completed              | only if not completed: delete or |
| call, letter, fax |                                                   | unlink (the setting below)       |
| service     | linked and starts after now (Exchange's organizer is    | never                            |
| activity    | the mailbox that synchronizes it: no organizer check)   |                                  |

A CRM delete withheld from a linked mailbox leaves the item there, but the record it was linked to is
gone: that mailbox gets an unlink (a delete delta with keep_item), so a later Outlook edit is not sent to
a record that no longer exists. A withheld logical delete keeps the link (the record still exists). A logical
delete that reaches the mailbox is a delete by default; with the organisation setting
distinct_physical_and_logical_deletes on it is an unlink instead (`logical_delete.leave`, note `logical_unlink`:
the item stays without the tracking category and fieldsync forgets the link).

Untracked items (tracking.py): a linked appointment or task whose tracking category the user removed is
no longer synchronized for that mailbox, so CRM changes stop flowing to it too (reason `untracked`), and
no CRM delete reaches it (a physical delete still unlinks it). Re-adding the category resumes sync.

Security (security.py, sync-semantics 2 and 7): a mailbox gets the record only while its user may read it. A
user who may not (`no_privilege`: no read privilege at all; `no_access`: the depth and the shares do not reach
the record) is treated as out of scope with that reason: a linked item gets a logical delete (the
table above: appointments keep theirs, as Dynamics documents). A field the user may not read is withheld
(`field_security`, whatever its direction) and, where the linked item holds fieldsync's value of it, cleared.
A refresh after a security change (every field, op update) creates the item where access was granted.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.policy.clearance import Clearance, screen
from services.policy.logical_delete import leave
from services.policy.membership import Member, member_of, members
from services.policy.readings import MEETINGS, is_completed_task, known, meeting_ahead, starts_after
from services.policy.security import Security
from services.policy.verdict import Decision, Facts, TargetDecision, outcomes_for
from shared.catalogue import EntitySpec
from shared.events import ItemChanged, Op, OrgSettings, Policy, Reason


def delete_note(change: ItemChanged, facts: Facts, mailbox: str, now: datetime, logical: bool) -> str | None:
    """None when the delete reaches `mailbox`, else why it is withheld."""
    entity = change.entity
    if entity == "contact":
        owner = change.context.get("owner_mailbox")
        # Unknown owner on a physical delete: by the owner filter the linked mailbox is the owner's.
        if not logical and (owner is None or owner == mailbox):
            return "owner_keeps_contact"
        return None
    if entity in MEETINGS:
        if logical:
            return "logical_delete"
        if mailbox not in facts.links:
            return "not_linked"
        organizer = known(change, facts, mailbox, "organizer")
        if not isinstance(organizer, str) or organizer.lower() != mailbox.lower():
            return "not_organizer"
        if not meeting_ahead(entity, change, facts, mailbox, now):
            return "not_in_future"
        return None
    if entity == "serviceappointment":
        if logical:
            return "logical_delete"
        if mailbox not in facts.links:
            return "not_linked"
        return None if starts_after(known(change, facts, mailbox, "appointment_time"), now) else "not_in_future"
    if is_completed_task(facts.exchange_values.get(mailbox, {}).get("status")):
        return "task_completed"
    return None


def _delete(
    change: ItemChanged, facts: Facts, mailbox: str, now: datetime, logical: bool, settings: OrgSettings
) -> TargetDecision:
    untracked = mailbox in facts.untracked
    note = "untracked" if untracked else delete_note(change, facts, mailbox, now, logical)
    exchange_id = facts.links.get(mailbox)
    if note is None and logical:
        return leave(settings, mailbox, exchange_id)  # a delete, or an unlink by the organisation's setting
    if note is None:
        return TargetDecision("exchange", mailbox, "delete", {}, (), exchange_id, "delete")
    if logical or exchange_id is None:
        return TargetDecision("exchange", mailbox, None, {}, (), exchange_id, note)
    # Withheld physical delete of a linked item: the mailbox keeps it, the dangling link goes.
    return TargetDecision("exchange", mailbox, "delete", {}, (), exchange_id, note, keep_item=True)


def _carries_every_field(change: ItemChanged, spec: EntitySpec) -> bool:
    return all(p.key in change.changed for p in spec.fields if p.crm_attributes)


def _home_op(change: ItemChanged, spec: EntitySpec, facts: Facts, home: str) -> Op:
    """Create where the record is new to the mailbox (created, reassigned here, reactivated), else update."""
    if home in facts.links:
        return "update"
    previous = change.context.get("previous_owner_mailbox")
    if change.op == "create" or (previous and previous != home) or _carries_every_field(change, spec):
        return "create"
    return "update"  # the create is still on its way to the applier: same key, applied in order


def _leave(
    change: ItemChanged, spec: EntitySpec, policy: Policy, facts: Facts, now: datetime, verdict: Member
) -> TargetDecision:
    """The one place a record leaves a mailbox (out of its filters, access lost, reassigned): a logical delete."""
    mailbox = verdict.mailbox
    left = _delete(change, facts, mailbox, now, True, policy.settings)  # a delete, or an unlink by the setting
    lost = verdict if verdict.reason not in (None, "out_of_scope") else None
    blocked: Reason = "untracked" if mailbox in facts.untracked else verdict.reason or "out_of_scope"
    outcomes, _ = outcomes_for(spec, policy, change, "exchange", mailbox, blocked, verdict.detail)
    note = lost.reason if lost and left.op == "delete" else left.note
    return TargetDecision(left.target, mailbox, left.op, {}, outcomes, left.exchange_id, note,
                          keep_item=left.keep_item, detail=verdict.detail)  # fmt: skip


def _entering(change: ItemChanged, spec: EntitySpec, facts: Facts, home: str) -> ItemChanged:
    """A record new to an unlinked mailbox is created there whole: the fields the change lacks come from the
    capture's snapshot (a filter that starts taking it after one field changed sends only that field)."""
    if home in facts.links or change.op == "create" or _carries_every_field(change, spec):
        return change
    known = {p.key: facts.crm_values[p.key] for p in spec.fields
             if (p.crm_attributes or p.crm_related) and p.key in facts.crm_values}
    if not known:
        return change
    return change.model_copy(update={"changed": {**known, **change.changed}})


def _home(
    change: ItemChanged, spec: EntitySpec, policy: Policy, facts: Facts, home: str, seen: Clearance
) -> TargetDecision:
    """The write to a mailbox the record belongs in (create where it is new, else update)."""
    if home in facts.untracked and home in facts.links:
        # The user untracked the item in Outlook: it is no longer synchronized for that mailbox.
        outcomes, _ = outcomes_for(spec, policy, change, "exchange", home, "untracked")
        return TargetDecision("exchange", home, None, {}, outcomes, facts.links[home], "untracked")
    change = _entering(change, spec, facts, home)
    op = _home_op(change, spec, facts, home)
    outcomes, allowed = outcomes_for(spec, policy, change, "exchange", home)
    # A field the user may not read never reaches the mailbox, whatever its direction; where the mailbox holds
    # fieldsync's value of it, the merge point clears it (reconcile.py).
    outcomes, allowed, hidden = screen(outcomes, allowed, seen.fields.unreadable)
    write: Op | None = op if allowed or op == "create" else None
    return TargetDecision(
        "exchange",
        home,
        write,
        allowed,
        outcomes,
        facts.links.get(home),
        None if write else "nothing_allowed",
        acting_user=seen.user,
        hidden=hidden if home in facts.links else frozenset(),
    )


def decide_from_crm(
    change: ItemChanged, spec: EntitySpec, policy: Policy, facts: Facts, now: datetime, security: Security | None = None
) -> Decision:
    owner = change.context.get("owner_mailbox")
    previous = change.context.get("previous_owner_mailbox")
    holders = set(facts.links) | ({previous} if isinstance(previous, str) and previous != owner else set())
    if change.op == "delete":
        if not holders:
            return Decision((TargetDecision("exchange", None, None, {}, (), note="not_linked"),))
        return Decision(tuple(_delete(change, facts, m, now, False, policy.settings) for m in sorted(holders)))
    found = members(change, spec, facts, security)
    homes = {m for m, verdict in found.items() if verdict.inside}
    targets: list[TargetDecision] = []
    mailboxes = {m.lower(): m for m in holders} | {m: m for m in homes if m not in {h.lower() for h in holders}}
    for key, mailbox in sorted(mailboxes.items()):
        verdict = found.get(key)
        if verdict is not None and verdict.inside:
            targets.append(_home(change, spec, policy, facts, mailbox, verdict.seen))
        else:
            left = replace(verdict, mailbox=mailbox) if verdict is not None else Member(mailbox, False)
            targets.append(_leave(change, spec, policy, facts, now, left))
    # A mailbox whose filters take the record but whose user may not read it says so (explain), as does the
    # owner's when nothing else does; mailboxes whose filters do not take the record are not listed.
    said = {m.lower() for m in mailboxes}
    withheld = [v for m, v in sorted(found.items()) if m not in said and v.reason not in (None, "out_of_scope")]
    if not targets and not withheld:
        verdict = member_of(found, owner) if isinstance(owner, str) else None
        withheld = [verdict or Member(owner if isinstance(owner, str) else "", False)]
    for verdict in withheld:
        told = verdict.mailbox or (owner if isinstance(owner, str) else None)
        blocked: Reason = verdict.reason or "out_of_scope"
        outcomes, _ = outcomes_for(spec, policy, change, "exchange", told, blocked, verdict.detail)
        targets.append(TargetDecision("exchange", told, None, {}, outcomes, note=blocked, detail=verdict.detail))
    return Decision(tuple(targets))
