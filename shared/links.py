"""Identities of linked pairs: the CRM id an Exchange item has (or will have) and the merge key of a pair.

Pure. Both captures and both appliers use these, so a change of one side and the CRM record it is linked to
(or, for an item created in Exchange, the record the crm_applier will create for it) share one key: the
policy decides both sides' changes of one pair in one partition, in order (DESIGN 4, the merge point).
"""

from __future__ import annotations

import uuid

# Counterparts created from Exchange get a deterministic id, so a replayed create finds its record.
COUNTERPART_NAMESPACE = uuid.UUID("6f1c3a52-3f0e-4bf5-9a55-5d1f0c7e2a10")


def counterpart_id(mailbox: str, exchange_id: str) -> str:
    """The id of the CRM record created for an Exchange item (the same for every attempt)."""
    return str(uuid.uuid5(COUNTERPART_NAMESPACE, f"{mailbox.lower()}:{exchange_id}"))


def merge_key(entity: str, crm_id: str | None, mailbox: str, exchange_id: str) -> str:
    """The key of an Exchange change on the bus: its linked record's CRM key, or the one it would get."""
    return f"{entity}:{crm_id or counterpart_id(mailbox, exchange_id)}"
