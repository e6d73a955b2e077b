"""Clearance: what the mailbox's user may do with one change's record and fields, applied to a target's outcomes.

Pure: no I/O, no clock, no logging. scope.py (CRM to Exchange) and tracking.py (Exchange to CRM) ask here;
security.py answers. With no `Security` (tests of the other rules, the benchmark's security-off run) everything
is cleared and the writes act as the service principal; the policy service itself always decides with one
(handler.py waits for the first complete round of the security tables before deciding anything).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.policy.security import ALLOWED, FieldRights, Security, Verb, Verdict, no_user
from services.policy.verdict import Facts
from shared.catalogue import EntitySpec
from shared.events import FieldOutcome, ItemChanged

# The CRM snapshot (crm_capture's, in Redis) keeps the record's owner under this key: an Exchange change does not
# carry it, and the Write check needs it.
SNAPSHOT_OWNER = "@ownerid"
NOTHING_DENIED = FieldRights()


@dataclass(frozen=True)
class Clearance:
    """One mailbox's user, whether they may `verb` the record, and which fields they may not touch."""

    user: str | None = None
    record: Verdict = ALLOWED
    fields: FieldRights = field(default_factory=FieldRights)


def owner_of(change: ItemChanged, facts: Facts) -> str | None:
    owner = change.context.get("ownerid") if change.source.system == "crm" else None
    owner = owner or facts.crm_values.get(SNAPSHOT_OWNER)
    return owner if isinstance(owner, str) else None


def clearance(
    security: Security | None, mailbox: str | None, spec: EntitySpec, change: ItemChanged, facts: Facts, verb: Verb
) -> Clearance:
    if security is None:
        return Clearance()
    user = security.user_of(mailbox)
    if user is None:
        return Clearance(None, no_user(mailbox), NOTHING_DENIED)
    verdict = security.record(user, spec.name, change.crm_id, owner_of(change, facts), verb)
    return Clearance(user, verdict, security.fields(user, spec))


def screen(
    outcomes: tuple[FieldOutcome, ...], allowed: Mapping[str, Any], denied: Mapping[str, str], suffix: str = ""
) -> tuple[tuple[FieldOutcome, ...], dict[str, Any], frozenset[str]]:
    """Withhold the fields in `denied` (key -> sentence): their synced outcomes become `field_security`.

    Returns the outcomes, the values still allowed, and the changed keys withheld."""
    if not denied:
        return outcomes, dict(allowed), frozenset()
    screened = []
    for outcome in outcomes:
        if outcome.synced and outcome.field in denied:
            sentence = denied[outcome.field] + suffix
            outcome = outcome.model_copy(update={"synced": False, "reason": "field_security", "detail": sentence})
        screened.append(outcome)
    kept = {k: v for k, v in allowed.items() if k not in denied}
    return tuple(screened), kept, frozenset(k for k in allowed if k in denied)
