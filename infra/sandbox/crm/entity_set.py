"""One entity set of the Web API: its key, writable, readable and computed attributes, its security (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.sandbox.crm.privileges import ORGANIZATION, PRIVILEGE_ENTITIES

SYSTEM_ATTRIBUTES = frozenset({
    "versionnumber", "modifiedon", "createdon", "_ownerid_value", "_modifiedby_value", "_createdby_value",
    "_createdonbehalfby_value", "_modifiedonbehalfby_value",
})  # fmt: skip
ADDRESS_PARTS = ("line1", "line2", "line3", "city", "stateorprovince", "postalcode", "country")


@dataclass(frozen=True)
class EntitySet:
    """One entity set: what may be written, what may be read, which lookups it binds."""

    name: str
    logical_name: str
    key: str
    writable: frozenset[str]
    lookups: frozenset[str]
    computed: frozenset[str] = field(default_factory=frozenset)
    has_state: bool = True
    # Security: the privilege entity guarding the table (None: System Administrators only), the attribute
    # naming the business unit a business-owned record belongs to, and whether the generic POST/PATCH/DELETE
    # may change it (the intersect and access tables change through associations and actions only).
    privilege_entity: str | None = None
    unit_attribute: str | None = None
    read_only: bool = False
    read_only_attributes: frozenset[str] = field(default_factory=frozenset)
    system_attributes: bool = True

    @property
    def readable(self) -> frozenset[str]:
        lookup_values = {f"_{name}_value" for name in self.lookups}
        state = {"statecode", "statuscode"} if self.has_state else set()
        system = SYSTEM_ATTRIBUTES if self.system_attributes else {"versionnumber"}
        extra = self.read_only_attributes
        return self.writable | self.computed | system | lookup_values | state | extra | {self.key}

    @property
    def ownership(self) -> str:
        return PRIVILEGE_ENTITIES.get(self.privilege_entity or "", ORGANIZATION)

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def computed_values(self, row: dict[str, Any]) -> dict[str, Any]:
        """Read-only attributes derived from the stored ones."""
        if self.logical_name == "contact" or self.logical_name == "systemuser":
            values: dict[str, Any] = {"fullname": _join(" ", row.get("firstname"), row.get("lastname"))}
            if self.logical_name == "contact":
                for n in (1, 2, 3):
                    values[f"address{n}_composite"] = _address(row, f"address{n}_")
            return values
        return {}


def _join(separator: str, *parts: object) -> str | None:
    text = separator.join(str(p) for p in parts if p not in (None, ""))
    return text or None


def _address(row: dict[str, Any], prefix: str) -> str | None:
    """Dynamics' composite layout: street lines, "city, state postcode", country, one per line."""
    p = {part: row.get(prefix + part) for part in ADDRESS_PARTS}
    region = _join(" ", p["stateorprovince"], p["postalcode"])
    return _join("\r\n", p["line1"], p["line2"], p["line3"], _join(", ", p["city"], region), p["country"])


