"""A write CRM refused under the acting user's security (403), and the change that brings the mailbox back (pure).

fieldsync writes a mailbox's change to CRM as the mailbox's user (`ItemDelta.acting_user` sent as MSCRMCallerID),
so CRM enforces that user's privileges on top of the policy's own decision. A write CRM refuses with 403
(PrivilegeDenied 0x80040220, the record is out of the privilege's reach 0x80048306, an update of a secured field
0x8004F507, a create setting one 0x8004F502) is an outcome, not a failure: it is never retried as transient and
never dead-lettered. The crm_applier publishes DeltaApplied "denied" with the code and message, and, so that the
user sees what CRM holds, re-reads the record as the service principal and publishes on crm.changes an
ItemChanged of the refused fields: CRM's current values in `changed`, the values the refused delta tried to write
in `previous`, the usual context and `context["denied_for"]` (the mailbox). The policy's merge point takes it as
an ordinary CRM change of those fields (the mailbox held the refused values) and sends CRM's values back to the
mailbox. A PATCH is refused whole, so every field it carried is refused. A refused delete sends every synced field
(the mailbox gets the record back); a refused create has no CRM record to show: only DeltaApplied "denied".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.catalogue import EntitySpec
from shared.clients.crm import CrmError
from shared.clients.crm_fields import Row, canonical_fields
from shared.events import ItemChanged, ItemDelta, Source


def denial_note(error: CrmError) -> str:
    """The DeltaApplied error of a refused write: CRM's code and message."""
    return f"{error.code or error.status}: {error.message}"


def revert_event(
    spec: EntitySpec,
    delta: ItemDelta,
    row: Row,
    refused: dict[str, Any],
    owner_mailbox: str | None,
    *,
    event_id: str,
    now: datetime,
) -> ItemChanged:
    """CRM's values of the `refused` fields (field -> the value the delta tried to write; empty: every synced
    field, for a refused delete) as a CRM change from the refused values, for the delta's mailbox."""
    current = canonical_fields(spec, row)
    changed = {key: current.get(key) for key in refused} if refused else current
    owner = row.get("_ownerid_value")
    version = row.get("versionnumber")
    return ItemChanged(
        event_id=event_id,
        occurred_at=now,
        captured_at=now,
        source=Source(system="crm"),
        entity=spec.name,
        op="update",
        crm_id=str(row.get(spec.key_attribute) or delta.crm_id).lower(),
        changed=changed,
        causation_id=delta.event_id,
        version=str(version) if version is not None else None,
        previous=dict(refused),
        context={
            "ownerid": str(owner).lower() if owner else None,
            "owner_mailbox": owner_mailbox,
            "statecode": row.get("statecode"),
            "denied_for": delta.mailbox,
        },
    )
