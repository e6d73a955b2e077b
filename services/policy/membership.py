"""Membership: which mailboxes a CRM record belongs in, as the users' sync filters and security decide it.

Pure: no I/O, no clock, no logging. A record belongs in a synced user's mailbox when at least one of that user's
enabled filters for the entity takes it (their own and the system ones: shared.filter_set) AND the user may read
it (security.py: role, depth, shares). Every user with a mailbox is considered, not only the owner: a colleague's
contact shared with alice reaches alice's mailbox through an "all active contacts" filter of hers.

Each mailbox outside says why, for explain: `out_of_scope` with the filters evaluated and why none took the
record, or the security reason (`no_privilege`, `no_access`) with the security sentence when a filter took it
but the user may not read it.

The record's attributes come with the change (`context["attributes"]`: the CRM row as read, Web API names) or,
for a change that lacks them, from the capture's snapshot (`@attributes`), else from the context's owner and
state. A bare model (no filter tables known: the other rules' tests, a replay without live tables) scopes by the
default templates for the owner alone: owner's mailbox, contacts only while active.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.policy.clearance import Clearance, clearance
from services.policy.security import Security
from services.policy.verdict import ACTIVE, Facts
from shared.catalogue import EntitySpec
from shared.events import ItemChanged, Reason
from shared.filter_set import match

ATTRIBUTES = "attributes"  # context key of the record's CRM attributes (crm_capture)
SNAPSHOT_ATTRIBUTES = "@attributes"  # the same, in the capture's snapshot (Facts.crm_values)


@dataclass(frozen=True)
class Member:
    """One mailbox's verdict: inside (with the user's clearance) or outside, with the reason and its sentence."""

    mailbox: str
    inside: bool
    seen: Clearance = field(default_factory=Clearance)
    reason: Reason | None = None
    detail: str | None = None


def in_scope(entity: str, context: Mapping[str, object]) -> bool:
    """The default templates for the owner (a bare model): owned by the mailbox user; contacts only while active."""
    if not context.get("owner_mailbox"):
        return False
    return entity != "contact" or context.get("statecode", ACTIVE) == ACTIVE


def attributes_of(change: ItemChanged, facts: Facts) -> dict[str, Any]:
    """The record's CRM attributes (Web API names) the filters read."""
    found = change.context.get(ATTRIBUTES)
    if not isinstance(found, Mapping):
        found = facts.crm_values.get(SNAPSHOT_ATTRIBUTES)
    attributes = dict(found) if isinstance(found, Mapping) else {}
    owner, state = change.context.get("ownerid"), change.context.get("statecode")
    if owner and "_ownerid_value" not in attributes:
        attributes["_ownerid_value"] = owner
    if state is not None and "statecode" not in attributes:
        attributes["statecode"] = state
    return attributes


def members(
    change: ItemChanged, spec: EntitySpec, facts: Facts, security: Security | None
) -> dict[str, Member]:
    """Every mailbox the rules have something to say about: the synced users' (or, bare, the owner's)."""
    owner = change.context.get("owner_mailbox")
    filters = security.model.filters if security is not None else None
    if security is None or filters is None:
        if not isinstance(owner, str):
            return {}
        if not in_scope(change.entity, change.context):
            return {owner: Member(owner, False, reason="out_of_scope")}
        seen = clearance(security, owner, spec, change, facts, "Read")
        if not seen.record.allowed:
            return {owner: Member(owner, False, seen, seen.record.reason, seen.record.detail)}
        return {owner: Member(owner, True, seen)}
    attributes = attributes_of(change, facts)
    model = security.model
    found: dict[str, Member] = {}
    for mailbox, user in sorted(model.mailbox_users.items()):
        taken = match(filters.of(user, change.entity), attributes, model.identity(user))
        if not taken.inside:
            sentence = taken.sentence(model.name_of(user), change.entity)
            found[mailbox] = Member(mailbox, False, reason="out_of_scope", detail=sentence)
            continue
        seen = clearance(security, mailbox, spec, change, facts, "Read")
        if seen.record.allowed:
            found[mailbox] = Member(mailbox, True, seen)
        else:
            found[mailbox] = Member(mailbox, False, seen, seen.record.reason, seen.record.detail)
    if isinstance(owner, str) and owner.lower() not in found:
        # The owner's address is no CRM user's mailbox (security.no_user says so).
        seen = clearance(security, owner, spec, change, facts, "Read")
        found[owner] = Member(owner, False, seen, seen.record.reason, seen.record.detail)
    return found


def member_of(found: Mapping[str, Member], mailbox: str) -> Member | None:
    """The verdict of `mailbox` (addresses compare case-insensitively)."""
    return found.get(mailbox) or found.get(mailbox.lower())
