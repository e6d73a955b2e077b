"""A logical delete: what a mailbox gets when a record leaves its scope, by the organisation's setting.

Pure: no I/O, no clock, no logging.

A record leaves a mailbox's scope without being deleted in CRM (reassigned, a contact deactivated, the user's
access lost, a sync filter that stops matching it): a *logical* delete (sync-semantics 3). Once the delete table
lets it reach the mailbox (scope.delete_note), Dynamics' DistinctPhysicalAndLogicalDeletesForExchangeSync
decides what it does:

| distinct_physical_and_logical_deletes | the mailbox gets                                          | note           |
|---------------------------------------|-----------------------------------------------------------|----------------|
| false (default)                       | a delete: the item goes                                   | delete         |
| true                                  | an unlink (a delete delta with keep_item): the item stays | logical_unlink |
|                                       | without the tracking category, the link is forgotten      |                |

A physical delete (the record deleted in CRM) never comes here: it follows the delete table alone. Every rule
that turns a record out of a mailbox (the default owner filter, security, sync filters) calls `leave`.
"""

from __future__ import annotations

from services.policy.verdict import TargetDecision
from shared.events import OrgSettings

UNLINK_NOTE = "logical_unlink"


def unlinks(settings: OrgSettings) -> bool:
    """Whether a logical delete unlinks the mailbox item (True) or deletes it (False)."""
    return settings.distinct_physical_and_logical_deletes


def leave(settings: OrgSettings, mailbox: str, exchange_id: str | None) -> TargetDecision:
    """The mailbox's target for a logical delete the delete table lets through: a delete, or an unlink."""
    if unlinks(settings):
        return TargetDecision("exchange", mailbox, "delete", {}, (), exchange_id, UNLINK_NOTE, keep_item=True)
    return TargetDecision("exchange", mailbox, "delete", {}, (), exchange_id, "delete")
