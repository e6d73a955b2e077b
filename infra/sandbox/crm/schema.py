"""Entity sets of the sandbox and their attributes, derived from the field catalogue (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shared.catalogue import load_catalogue

SYSTEM_ATTRIBUTES = frozenset(
    {"versionnumber", "modifiedon", "createdon", "_ownerid_value", "_modifiedby_value", "_createdby_value"}
)
# Lookups are read as `_<name>_value` and written with `<name>[_<target>]@odata.bind`.
LOOKUPS = frozenset({"regardingobjectid", "parentcustomerid", "ownerid", "businessunitid"})
CONTACT_NAME_PARTS = ("firstname", "lastname", "middlename")
ADDRESS_PARTS = ("line1", "line2", "line3", "city", "stateorprovince", "postalcode", "country")

# Default (statecode, statuscode) on create, from the documented state/status pairs of each entity:
# appointment and recurring appointment: Scheduled(3)/Busy(5); service activity: Open(0)/Requested(1);
# task: Open(0)/Not Started(2); phone call, letter, fax: Open(0)/Open(1); contact: Active(0)/Active(1).
DEFAULT_STATE = {
    "contact": (0, 1),
    "appointment": (3, 5),
    "recurringappointmentmaster": (3, 5),
    "serviceappointment": (0, 1),
    "task": (0, 2),
    "phonecall": (0, 1),
    "letter": (0, 1),
    "fax": (0, 1),
}


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

    @property
    def readable(self) -> frozenset[str]:
        lookup_values = {f"_{name}_value" for name in self.lookups}
        state = {"statecode", "statuscode"} if self.has_state else set()
        return self.writable | self.computed | SYSTEM_ATTRIBUTES | lookup_values | state | {self.key}

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


def _from_catalogue() -> dict[str, EntitySet]:
    sets: dict[str, EntitySet] = {}
    for logical_name, spec in load_catalogue().entities.items():
        attributes: set[str] = set()
        for pair in spec.fields:
            attributes.update(pair.crm_attributes)
            if len(pair.crm_attributes) <= 1:
                attributes.add(pair.key)
        computed: set[str] = set()
        if logical_name == "contact":
            attributes.update(CONTACT_NAME_PARTS)
            computed = {"fullname", "address1_composite", "address2_composite", "address3_composite"}
        attributes -= computed | {"statecode", "statuscode", spec.key_attribute}
        lookups = {a for a in attributes if a in LOOKUPS} | {"ownerid"}
        sets[spec.entity_set] = EntitySet(
            name=spec.entity_set,
            logical_name=logical_name,
            key=spec.key_attribute,
            writable=frozenset(attributes - lookups),
            lookups=frozenset(lookups),
            computed=frozenset(computed),
        )
    return sets


@cache
def entity_sets() -> dict[str, EntitySet]:
    """Every entity set the sandbox serves, by entity set name."""
    sets = _from_catalogue()
    sets["systemusers"] = EntitySet(
        name="systemusers",
        logical_name="systemuser",
        key="systemuserid",
        writable=frozenset({"firstname", "lastname", "domainname", "internalemailaddress", "isdisabled"}),
        lookups=frozenset({"businessunitid"}),
        computed=frozenset({"fullname"}),
        has_state=False,
    )
    sets["businessunits"] = EntitySet(
        name="businessunits",
        logical_name="businessunit",
        key="businessunitid",
        writable=frozenset({"name", "isdisabled"}),
        lookups=frozenset(),
        has_state=False,
    )
    return sets


def bind_targets() -> dict[str, str]:
    """Entity set name -> key attribute, for resolving `/<set>(<guid>)` in @odata.bind values."""
    return {name: spec.key for name, spec in entity_sets().items()}
