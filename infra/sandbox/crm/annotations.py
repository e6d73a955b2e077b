"""Lookup annotations: what `Prefer: odata.include-annotations` adds beside each `_<lookup>_value` (pure).

As the Web API does, a lookup is read as `_<name>_value` (the guid) and, when the caller asks for annotations,
with `@Microsoft.Dynamics.CRM.lookuplogicalname` (the table it points to: a customer lookup may name an account
or a contact), `@Microsoft.Dynamics.CRM.associatednavigationproperty` (the single-valued navigation property it
was bound through, `parentcustomerid_account`) and `@OData.Community.Display.V1.FormattedValue` (the primary
name of the record it points to, as it is now). The target's table is stored with the row when it is bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LOGICAL = "@Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "@Microsoft.Dynamics.CRM.associatednavigationproperty"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
PREFERENCE = "odata.include-annotations"
# A name resolver: (logical name, id) -> the record's primary name, or None when it is gone.
Names = Callable[[str, str], str | None]
# Lookups with one possible target table: their type needs no storing.
SINGLE_TARGET = {"ownerid": "systemuser", "businessunitid": "businessunit", "parentbusinessunitid": "businessunit",
                 "modifiedby": "systemuser", "createdby": "systemuser"}  # fmt: skip


def type_key(lookup: str) -> str:
    """The stored key of the table a bound lookup points to (never shown as such: shown as an annotation)."""
    return f"_{lookup}_value{LOGICAL}"


def wanted(prefer: Mapping[str, str]) -> bool:
    """Whether the caller asked for the lookup annotations (`*`, or a list naming either of them)."""
    if PREFERENCE not in prefer:
        return False
    asked = " ".join(f"{k}={v}" for k, v in prefer.items()).lower()
    return "*" in prefer[PREFERENCE] or "formattedvalue" in asked or "lookuplogicalname" in asked


def annotate(shown: dict[str, Any], stored: Mapping[str, Any], names: Names) -> dict[str, Any]:
    """`shown` with the three annotations beside each lookup value it holds (pure but for `names`)."""
    out: dict[str, Any] = {}
    for key, value in shown.items():
        out[key] = value
        if not (key.startswith("_") and key.endswith("_value")) or not isinstance(value, str) or "@" in key:
            continue
        lookup = key[1:-len("_value")]
        logical = stored.get(type_key(lookup)) or SINGLE_TARGET.get(lookup)
        if not isinstance(logical, str):
            continue
        out[key + LOGICAL] = logical
        out[key + NAVIGATION] = f"{lookup}_{logical}" if lookup not in SINGLE_TARGET else lookup
        formatted = names(logical, value)
        if formatted is not None:
            out[key + FORMATTED] = formatted
    return out
