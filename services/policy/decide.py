"""The policy's entry rule: for one change, what each target (CRM, each mailbox) receives and why.

Pure: no I/O, no clock (`now` is passed), no logging. The loop gathers the facts (links, last known values)
from Redis and hands them in; plan.py turns the decision into events. Echoes and unknown entities stop
here; scope.py holds the CRM-to-Exchange rules and tracking.py the Exchange-to-CRM rules.
"""

from __future__ import annotations

from datetime import datetime

from services.policy.scope import decide_from_crm
from services.policy.security import Security
from services.policy.tracking import decide_from_exchange
from services.policy.verdict import Decision, Facts, TargetDecision, outcomes_for
from shared.catalogue import EntitySpec
from shared.events import ItemChanged, Policy, Reason, System


def decide(
    change: ItemChanged,
    spec: EntitySpec | None,
    policy: Policy,
    facts: Facts,
    now: datetime,
    security: Security | None = None,
) -> Decision:
    """The whole decision for one change, under the mailbox users' security (None: security off, tests only)."""
    if change.origin == "fieldsync" or spec is None:
        # An echo of fieldsync's own write, or an entity the catalogue does not know: nothing moves.
        target: System = "exchange" if change.source.system == "crm" else "crm"
        blocked: Reason = "echo" if change.origin == "fieldsync" else "unmapped"
        outcomes, _ = outcomes_for(spec, policy, change, target, change.mailbox, blocked)
        return Decision((TargetDecision(target, change.mailbox, None, {}, outcomes, note=blocked),))
    if change.source.system == "crm":
        return decide_from_crm(change, spec, policy, facts, now, security)
    return decide_from_exchange(change, spec, policy, facts, now, security)
