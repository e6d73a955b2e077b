"""What every Dynamics organisation has from the start, made at each start of the sandbox when missing.

The root business unit, the application user fieldsync's connectors act as, the privileges table, the
System Administrator role (its documented role template id, every privilege at Global depth) held by the
application user, and the default sync filter templates (OutlookTemplate savedqueries). Each step writes only
what is missing, so a restart changes nothing and an older SQLite file gains what a newer sandbox knows (new
privileges reach the System Administrator role too, the templates appear).
"""

from __future__ import annotations

import uuid

from infra.sandbox.crm.filter_sets import template_rows
from infra.sandbox.crm.guard import ROOT_UNIT_META
from infra.sandbox.crm.privileges import GLOBAL, SYSTEM_ADMINISTRATOR_TEMPLATE, catalogue
from infra.sandbox.crm.security_sets import link_id
from infra.sandbox.crm.store import Store

APPLICATION_USER = "fieldsync"
ROOT_BUSINESS_UNIT = "sandbox"
SYSTEM_ADMINISTRATOR = "System Administrator"
_ROLE_META = "system_administrator_role_id"


def _system(user_id: str, now: str) -> dict[str, str]:
    return {"createdon": now, "modifiedon": now, "_createdby_value": user_id, "_modifiedby_value": user_id}


def _application_user(store: Store, now: str) -> str:
    existing = store.meta("application_user_id")
    if existing:
        if not store.meta(ROOT_UNIT_META):  # a file from before business unit trees: its unit is the root
            unit = (store.get("systemusers", existing) or {}).get("_businessunitid_value")
            store.set_meta(ROOT_UNIT_META, str(unit))
        return existing
    user_id, unit_id = str(uuid.uuid4()), str(uuid.uuid4())
    root = {"businessunitid": unit_id, "name": ROOT_BUSINESS_UNIT, **_system(user_id, now)}
    store.put("businessunits", unit_id, root)
    store.set_meta(ROOT_UNIT_META, unit_id)
    store.put("systemusers", user_id, {
        "systemuserid": user_id, "firstname": APPLICATION_USER, "lastname": None,
        "domainname": f"{APPLICATION_USER}@sandbox.local", "internalemailaddress": f"{APPLICATION_USER}@sandbox.local",
        "_businessunitid_value": unit_id, "isdisabled": False, **_system(user_id, now),
    })  # fmt: skip
    store.set_meta("application_user_id", user_id)
    return user_id


def _system_administrator(store: Store, user_id: str, now: str) -> str:
    role_id = store.meta(_ROLE_META)
    if not role_id:
        role_id = str(uuid.uuid4())
        store.put("roles", role_id, {
            "roleid": role_id, "name": SYSTEM_ADMINISTRATOR, "_businessunitid_value": store.meta(ROOT_UNIT_META),
            "_roletemplateid_value": SYSTEM_ADMINISTRATOR_TEMPLATE, **_system(user_id, now),
        })  # fmt: skip
        store.set_meta(_ROLE_META, role_id)
    for privilege_id in catalogue():
        row_id = link_id("roleprivileges", role_id, privilege_id)
        if store.get("roleprivilegescollection", row_id) is None:
            store.put("roleprivilegescollection", row_id, {
                "roleprivilegeid": row_id, "roleid": role_id, "privilegeid": privilege_id, "privilegedepthmask": GLOBAL,
            })  # fmt: skip
    return role_id


def bootstrap(store: Store, now: str) -> str:
    """Make what is missing; returns the application user's systemuserid (stable across restarts)."""
    user_id = _application_user(store, now)
    for privilege in catalogue().values():
        if store.get("privileges", privilege.privilegeid) is None:
            store.put("privileges", privilege.privilegeid, privilege.row())
    role_id = _system_administrator(store, user_id, now)
    assignment = link_id("systemuserroles_association", user_id, role_id)
    if store.get("systemuserrolescollection", assignment) is None:
        store.put("systemuserrolescollection", assignment,
                  {"systemuserroleid": assignment, "systemuserid": user_id, "roleid": role_id})  # fmt: skip
    for template in template_rows():  # the default sync filter templates (filter_sets.py)
        if store.get("savedqueries", template["savedqueryid"]) is None:
            store.put("savedqueries", template["savedqueryid"], {**template, **_system(user_id, now)})
    return user_id
