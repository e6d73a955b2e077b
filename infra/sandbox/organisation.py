"""The sandbox organisation's security, set up through the Web API as an administrator would: business units,
roles and their privileges, role assignments. Every step finds what exists first, so running it twice is a no-op.

    Contoso (root)            System Administrator  every privilege, Global
      Sales                   Salesperson           Basic create/read/write/delete/append/appendto on the
        Sales East                                  synced tables (contacts and every activity)
        Sales West            Sales Manager         Deep read and write on the same

Test fixtures use `ensure_role` / `assign_role` too: a user with no role can do nothing, as in Dynamics.
"""

from __future__ import annotations

from typing import Any

from shared.crm.client import CrmClient

ROOT_UNIT = "Contoso"
UNITS = (("Sales", ROOT_UNIT), ("Sales East", "Sales"), ("Sales West", "Sales"))
SYSTEM_ADMINISTRATOR, SALESPERSON, SALES_MANAGER = "System Administrator", "Salesperson", "Sales Manager"
SYNCED = ("Contact", "Activity")  # every activity table shares the Activity privileges
_SALES_VERBS = ("Create", "Read", "Write", "Delete", "Append", "AppendTo")
ROLE_PRIVILEGES: dict[str, dict[str, str] | None] = {  # role -> privilege name -> depth (None: all, Global)
    SYSTEM_ADMINISTRATOR: None,
    SALESPERSON: {f"prv{verb}{entity}": "Basic" for entity in SYNCED for verb in _SALES_VERBS},
    SALES_MANAGER: {f"prv{verb}{entity}": "Deep" for entity in SYNCED for verb in ("Read", "Write")},
}


def _quoted(text: str) -> str:
    return text.replace("'", "''")


async def root_unit(crm: CrmClient, name: str = ROOT_UNIT) -> str:
    """The root business unit (the application user's), named `name`."""
    unit = str((await crm.request("GET", "WhoAmI")).json()["BusinessUnitId"])
    current = await crm.get("businessunits", unit, ["name"])
    if current.get("name") != name:
        await crm.update("businessunits", unit, {"name": name})
    return unit


async def ensure_unit(crm: CrmClient, name: str, parent: str) -> str:
    """The business unit `name` below `parent` (moved there when it hangs elsewhere)."""
    found = await crm.query("businessunits", select=["businessunitid", "_parentbusinessunitid_value"],
                            filter=f"name eq '{_quoted(name)}'")  # fmt: skip
    bind = {"parentbusinessunitid@odata.bind": f"/businessunits({parent})"}
    if not found:
        return str((await crm.create("businessunits", {"name": name, **bind}))["businessunitid"])
    unit = str(found[0]["businessunitid"])
    if found[0].get("_parentbusinessunitid_value") != parent:
        await crm.update("businessunits", unit, bind)
    return unit


async def organisation_units(crm: CrmClient) -> dict[str, str]:
    """Name -> businessunitid of the tree above."""
    units = {ROOT_UNIT: await root_unit(crm)}
    for name, parent in UNITS:
        units[name] = await ensure_unit(crm, name, units[parent])
    return units


async def privilege_ids(crm: CrmClient) -> dict[str, str]:
    rows = await crm.query("privileges", select=["privilegeid", "name"])
    return {str(p["name"]): str(p["privilegeid"]) for p in rows}


async def ensure_role(crm: CrmClient, name: str, unit: str, privileges: dict[str, str] | None,
                      known: dict[str, str] | None = None) -> str:  # fmt: skip
    """The role `name` with at least these privileges (name -> depth; None: every privilege at Global)."""
    known = known or await privilege_ids(crm)
    found = await crm.query("roles", select=["roleid"], filter=f"name eq '{_quoted(name)}'")
    if found:
        role = str(found[0]["roleid"])
    else:
        body = {"name": name, "businessunitid@odata.bind": f"/businessunits({unit})"}
        role = str((await crm.create("roles", body))["roleid"])
    wanted = privileges if privileges is not None else dict.fromkeys(known, "Global")
    entries: list[dict[str, Any]] = [
        {"PrivilegeId": known[privilege], "Depth": depth, "BusinessUnitId": unit} for privilege, depth in wanted.items()
    ]
    await crm.request("POST", f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", json={"Privileges": entries})
    return role


async def organisation_roles(crm: CrmClient, root: str) -> dict[str, str]:
    """Name -> roleid of the three roles above, in the root business unit."""
    known = await privilege_ids(crm)
    return {name: await ensure_role(crm, name, root, privileges, known) for name, privileges in ROLE_PRIVILEGES.items()}


async def assign_role(crm: CrmClient, user: str, role: str) -> None:
    """Give the user the role (nothing when it already holds it)."""
    held = (await crm.request("GET", f"systemusers({user})/systemuserroles_association",
                              params={"$select": "roleid"})).json()["value"]  # fmt: skip
    if any(str(r["roleid"]) == role for r in held):
        return
    reference = {"@odata.id": f"{crm.base_url}roles({role})"}
    await crm.request("POST", f"systemusers({user})/systemuserroles_association/$ref", json=reference)
