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
mailbox. CRM refuses a write whole; when the refusal names one secured field (0x8004F507, 0x8004F502: "... does
not have update permissions to a <attribute> secured field ..."), only that field is refused: the write is made
again without it (a create then makes the record without the field, as Dynamics documents for Outlook), so the
user's other changes are not lost. Otherwise every field of the write is refused. A refused delete sends every
synced field (the mailbox gets the record back); a refused create has no CRM record to show: only "denied".
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from shared.catalogue import EntitySpec
from shared.crm.client import CrmError
from shared.crm.fields import Row, canonical_fields
from shared.events import ItemChanged, ItemDelta, Source

# The refusals of one secured field, and how their message names it (Dataverse's wording, the sandbox's too).
SECURED_FIELD_CODES = frozenset({"0x8004f507", "0x8004f502"})
_SECURED_FIELD = re.compile(r"permissions to an? (?P<attribute>\w+) secured field")


def refused_field(spec: EntitySpec, error: CrmError, fields: dict[str, Any]) -> str | None:
    """The one field of `fields` (field keys) a refusal names, or None when it names none of them."""
    if (error.code or "").lower() not in SECURED_FIELD_CODES:
        return None
    found = _SECURED_FIELD.search(error.message)
    if found is None:
        return None
    pair = spec.field_for_attribute(found.group("attribute"))
    key = pair.key if pair is not None else found.group("attribute")
    return key if key in fields else None


def without(delta: ItemDelta, key: str) -> ItemDelta:
    """The delta without one field: what is written again after CRM refused that field alone."""
    return delta.model_copy(update={"changed": {k: v for k, v in delta.changed.items() if k != key}})


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
