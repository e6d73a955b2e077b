"""What a delta must change in CRM: validation, idempotency, conflict resolution, results (pure)."""

from __future__ import annotations

from shared import attachments
from shared.catalogue import Catalogue
from shared.crm.fields import write_body
from shared.events import ItemDelta
from shared.links import COUNTERPART_NAMESPACE, counterpart_id
from shared.update_plan import APPLIED_EVENTS_KEPT, Plan, applied_event, plan_update, remember, result_of

# The update rule is shared with the other applier (shared/update_plan.py); this module adds this side's parts.
__all__ = [
    "APPLIED_EVENTS_KEPT",
    "COUNTERPART_NAMESPACE",
    "Plan",
    "applied_event",
    "counterpart_id",
    "item_key",
    "plan_update",
    "remember",
    "result_of",
    "validate",
]

def item_key(delta: ItemDelta) -> str:
    """The deltas.crm key of the item: `{entity}:{crm_id}`, or `{entity}:x-{mailbox}:{exchange_id}` unlinked."""
    if delta.crm_id:
        return f"{delta.entity}:{delta.crm_id}"
    return f"{delta.entity}:x-{delta.mailbox}:{delta.exchange_id}"


def validate(delta: ItemDelta, catalogue: Catalogue) -> str | None:
    """Why a delta cannot be applied at all (a dead letter), or None."""
    if delta.target != "crm":
        return f"target is {delta.target!r}, not 'crm'"
    spec = catalogue.entity(delta.entity)
    if spec is None:
        return f"unknown entity {delta.entity!r}"
    if delta.op == "create" and not delta.crm_id and not (delta.mailbox and delta.exchange_id):
        return "a create without crm_id needs mailbox and exchange_id"
    if delta.op != "create" and not delta.crm_id and not (delta.mailbox and delta.exchange_id):
        return f"an {delta.op} needs crm_id or mailbox and exchange_id"
    try:
        write_body(spec, {k: v for k, v in delta.changed.items() if k != attachments.KEY})
        if attachments.KEY in delta.changed:
            if spec.field(attachments.KEY) is None:
                return f"{delta.entity} has no attachments field"
            attachments.validated(delta.changed[attachments.KEY])
    except KeyError as exc:
        return f"field {exc.args[0]!r} is not a mapped {delta.entity} field"
    except ValueError as exc:
        return str(exc)
    return None
