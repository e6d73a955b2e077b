"""The CRM side of the traffic generator: PATCH one field of an existing record through the Web API."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra.sandbox.traffic_shape import TrafficShape, pick
from shared.crm.client import CrmClient
from shared.settings import CrmSettings

# Entity set -> (logical name, key attribute, fields traffic may change). Single-attribute pairs only,
# so the canonical field key is the attribute itself.
CRM_FIELDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "contacts": ("contact", "contactid", ("jobtitle", "department", "telephone1", "nickname", "description")),
    "appointments": ("appointment", "activityid", ("location", "subject", "description")),
    "tasks": ("task", "activityid", ("subject", "description")),
    "phonecalls": ("phonecall", "activityid", ("subject", "description")),
    "letters": ("letter", "activityid", ("subject", "description")),
    "faxes": ("fax", "activityid", ("subject", "description")),
    "recurringappointmentmasters": ("recurringappointmentmaster", "activityid", ("subject", "location")),
    "serviceappointments": ("serviceappointment", "activityid", ("subject", "location", "description")),
}
# What one change made: (entity, record id, mailbox, canonical field, value, the source's modification time).
Made = tuple[str, str, str | None, str, Any, datetime | None]


@dataclass(frozen=True)
class CrmTarget:
    entity_set: str
    record_id: str
    owner_id: str | None


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def new_value(field: str, label: str, rng: random.Random) -> Any:
    """A fresh, recognisable value for `field` (telephone numbers stay phone-shaped)."""
    if field == "telephone1":
        return f"+1 206 555 {rng.randrange(10000):04d}"
    return f"{field} {label}"


class CrmSide:
    """Lifecycle: open() lists the records; change() writes as the record's owner (MSCRMCallerID), the way a
    person's edit arrives, so the capture does not take it for fieldsync's own write; close() ends clients."""

    def __init__(self, settings: CrmSettings):
        self.settings = settings
        self.targets: list[CrmTarget] = []
        self._clients: dict[str | None, CrmClient] = {}

    def _client(self, owner_id: str | None) -> CrmClient:
        if owner_id not in self._clients:
            self._clients[owner_id] = CrmClient.from_settings(self.settings, caller_id=owner_id)
        return self._clients[owner_id]

    async def open(self) -> None:
        reader = self._client(None)
        for entity_set, (_, key, _) in CRM_FIELDS.items():
            rows = await reader.query(entity_set, select=[key, "_ownerid_value"])
            self.targets += [CrmTarget(entity_set, str(r[key]), r.get("_ownerid_value")) for r in rows]

    async def change(self, rng: random.Random, label: str, shape: TrafficShape | None = None) -> Made:
        """PATCH one field of a record picked at random (its entity and field weighted by `shape`, when given);
        returns what write() returns."""
        if shape is None:
            target = rng.choice(self.targets)
            field = rng.choice(CRM_FIELDS[target.entity_set][2])
        else:
            entity = pick(rng, shape.entity_weights("crm"), sorted({self.entity_of(t) for t in self.targets}))
            target = rng.choice([t for t in self.targets if self.entity_of(t) == entity])
            field = pick(rng, shape.field_weights("crm", entity), CRM_FIELDS[target.entity_set][2])
        return await self.write(target, field, new_value(field, label, rng))

    @staticmethod
    def entity_of(target: CrmTarget) -> str:
        return CRM_FIELDS[target.entity_set][0]

    async def write(self, target: CrmTarget, field: str, value: Any) -> Made:
        """PATCH one field; returns (entity, record id, mailbox, field, value, modified time from the row)."""
        entity = CRM_FIELDS[target.entity_set][0]
        row = await self._client(target.owner_id).update(target.entity_set, target.record_id, {field: value})
        return entity, target.record_id, None, field, value, parse_time(row.get("modifiedon"))

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
