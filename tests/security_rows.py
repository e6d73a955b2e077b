"""Builders of CRM security table rows in the Web API's shapes (what crm_capture publishes), for the policy's tests
and benchmark: an organisation described in a few calls, turned into `Tables` or SecurityChanged events."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from services.policy.security import Security
from services.policy.security_model import SYSTEM_ADMINISTRATOR_TEMPLATE, Tables, build
from shared import redis_keys
from shared.events import SecurityChanged

DEPTH = {"Basic": 1, "Local": 2, "Deep": 4, "Global": 8}
KEYS = {
    "businessunits": "businessunitid", "systemusers": "systemuserid", "teams": "teamid", "roles": "roleid",
    "privileges": "privilegeid", "roleprivilegescollection": "roleprivilegeid",
    "systemuserrolescollection": "systemuserroleid", "teamrolescollection": "teamroleid",
    "teammemberships": "teammembershipid", "principalobjectaccessset": "principalobjectaccessid",
    "attributemetadata": "MetadataId", "fieldpermissions": "fieldpermissionid",
    "systemuserprofilescollection": "systemuserprofileid", "teamprofilescollection": "teamprofileid",
    "userqueries": "userqueryid", "savedqueries": "savedqueryid",
}  # fmt: skip
ACTIVITIES = ("appointment", "task", "phonecall", "letter", "fax", "recurringappointmentmaster", "serviceappointment")


def fetch(entity: str, *conditions: tuple[str, str, str | None], kind: str = "and") -> str:
    """The FetchXML of one filter: `(attribute, operator, value or None)` conditions in one filter element."""
    lines = "".join(
        f'<condition attribute="{a}" operator="{o}"' + (f' value="{v}"/>' if v is not None else "/>")
        for a, o, v in conditions
    )
    return f'<fetch version="1.0"><entity name="{entity}"><filter type="{kind}">{lines}</filter></entity></fetch>'


# The default templates Dynamics copies into a user's userqueries when their mailbox is first synced.
MY_ACTIVE_CONTACTS = fetch("contact", ("ownerid", "eq-userid", None), ("statecode", "eq", "0"))
ALL_ACTIVE_CONTACTS = fetch("contact", ("statecode", "eq", "0"))
_IDS = uuid.UUID("5a8e2f1c-3b7d-4c9e-8a61-0f2d4b6c8e10")


@cache
def sid(name: str) -> str:
    """A stable guid per name, so tests can name principals."""
    return str(uuid.uuid5(_IDS, name))


@dataclass
class Org:
    """An organisation under construction: call the builders, then `tables()` or `security()`."""

    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {t: {} for t in KEYS})
    root: str = field(default_factory=lambda: sid("unit:root"))

    def __post_init__(self) -> None:
        self._put("businessunits", self.root, {"name": "Root", "_parentbusinessunitid_value": None})

    def _put(self, table: str, key: str, row: dict[str, Any]) -> str:
        self.rows[table][key] = {KEYS[table]: key, **row}
        return key

    def unit(self, name: str, parent: str | None = None) -> str:
        return self._put("businessunits", sid(f"unit:{name}"),
                         {"name": name, "_parentbusinessunitid_value": parent or self.root})  # fmt: skip

    def user(self, name: str, unit: str | None = None, *roles: str, templates: bool = True) -> str:
        """A user with a mailbox and, unless `templates` is off, the default sync filters copied to them."""
        user = self._put("systemusers", sid(f"user:{name}"), {
            "firstname": name, "internalemailaddress": f"{name}@sandbox.local",
            "_businessunitid_value": unit or self.root,
        })  # fmt: skip
        for role in roles:
            self._put("systemuserrolescollection", sid(f"ur:{user}:{role}"), {"systemuserid": user, "roleid": role})
        if templates:
            self.filter(user, "My Active Contacts", "contact", MY_ACTIVE_CONTACTS)
            for entity in ACTIVITIES:
                self.filter(user, f"My {entity}", entity, fetch(entity, ("ownerid", "eq-userid", None)))
        return user

    def filter(self, owner: str, name: str, entity: str, fetchxml: str, enabled: bool = True) -> str:
        """A user filter (userqueries, querytype 256) of `owner`."""
        return self._put("userqueries", sid(f"uq:{owner}:{name}"), {
            "name": name, "querytype": 256, "returnedtypecode": entity, "fetchxml": fetchxml,
            "statecode": 0 if enabled else 1, "_ownerid_value": owner,
        })  # fmt: skip

    def system_filter(self, name: str, entity: str, fetchxml: str, enabled: bool = True) -> str:
        """A system filter (savedqueries, querytype 256): it applies to every user."""
        return self._put("savedqueries", sid(f"sq:{name}"), {
            "name": name, "querytype": 256, "returnedtypecode": entity, "fetchxml": fetchxml,
            "statecode": 0 if enabled else 1,
        })  # fmt: skip

    def privilege(self, name: str) -> str:
        return self._put("privileges", sid(f"prv:{name}"), {"name": name})

    def role(self, name: str, privileges: dict[str, str], admin: bool = False) -> str:
        template = SYSTEM_ADMINISTRATOR_TEMPLATE if admin else None
        row = {"name": name, "_businessunitid_value": self.root, "_roletemplateid_value": template}
        role = self._put("roles", sid(f"role:{name}"), row)
        for privilege, depth in privileges.items():
            pid = self.privilege(privilege)
            self._put("roleprivilegescollection", sid(f"rp:{role}:{pid}"),
                      {"roleid": role, "privilegeid": pid, "privilegedepthmask": DEPTH[depth]})  # fmt: skip
        return role

    def team(self, name: str, unit: str | None = None, members: tuple[str, ...] = (), roles: tuple[str, ...] = (),
             teamtype: int = 0) -> str:  # fmt: skip
        team = self._put("teams", sid(f"team:{name}"),
                         {"name": name, "teamtype": teamtype, "_businessunitid_value": unit or self.root})  # fmt: skip
        for member in members:
            self._put("teammemberships", sid(f"tm:{team}:{member}"), {"systemuserid": member, "teamid": team})
        for role in roles:
            self._put("teamrolescollection", sid(f"tr:{team}:{role}"), {"teamid": team, "roleid": role})
        return team

    def share(self, record: str, principal: str, mask: int) -> None:
        self._put("principalobjectaccessset", sid(f"poa:{record}:{principal}"),
                  {"objectid": record, "principalid": principal, "accessrightsmask": mask})  # fmt: skip

    def secure(self, entity: str, attribute: str) -> None:
        self._put("attributemetadata", sid(f"attr:{entity}.{attribute}"),
                  {"EntityLogicalName": entity, "LogicalName": attribute, "IsSecured": True})  # fmt: skip

    def profile(self, name: str, permissions: dict[tuple[str, str], tuple[bool, bool, bool]],
                users: tuple[str, ...] = (), teams: tuple[str, ...] = ()) -> str:  # fmt: skip
        profile = sid(f"profile:{name}")
        for (entity, attribute), allowed in permissions.items():
            read, update, create = (4 if a else 0 for a in allowed)
            self._put("fieldpermissions", sid(f"fp:{profile}:{entity}.{attribute}"), {
                "_fieldsecurityprofileid_value": profile, "entityname": entity, "attributelogicalname": attribute,
                "canread": read, "canupdate": update, "cancreate": create,
            })  # fmt: skip
        for user in users:
            self._put("systemuserprofilescollection", sid(f"up:{user}:{profile}"),
                      {"systemuserid": user, "fieldsecurityprofileid": profile})  # fmt: skip
        for team in teams:
            self._put("teamprofilescollection", sid(f"tp:{team}:{profile}"),
                      {"teamid": team, "fieldsecurityprofileid": profile})  # fmt: skip
        return profile

    def tables(self) -> Tables:
        return Tables({table: dict(rows) for table, rows in self.rows.items()})

    def security(self, round_: int = 1) -> Security:
        return Security(build(self.tables(), round_))

    def events(self, round_: int = 1) -> list[SecurityChanged]:
        """Every row as one round of SecurityChanged, as crm_capture publishes a first read."""
        now = datetime.now(UTC)
        found = [
            SecurityChanged(event_id=str(uuid.uuid4()), occurred_at=now, principal=key, table=table, row=row,
                            round=round_)
            for table, rows in self.rows.items() for key, row in rows.items()
        ]
        found[-1] = found[-1].model_copy(update={"last_in_round": True})
        return found


SALES = {f"prv{verb}{entity}": "Basic" for entity in ("Contact", "Activity")
         for verb in ("Create", "Read", "Write", "Delete")}  # fmt: skip


def everyone_admin(*names: str) -> Org:
    """An organisation where each named user (mailbox `<name>@sandbox.local`) is a System Administrator."""
    org = Org()
    admin = org.role("System Administrator", {p: "Global" for p in SALES}, admin=True)
    for name in names:
        org.user(name, None, admin)
    return org


def seed_security(client: Any, org: Org | None = None, round_: int = 1) -> None:
    """Store `org` (default: alice, bob, carol and admin as System Administrators) in a Redis as a complete round,
    the way the policy's security agent leaves it (for worker tests that are not about security: the policy
    decides nothing before a round is known). `client` is a synchronous redis.Redis."""
    org = org or everyone_admin("alice", "bob", "carol", "admin")
    pipe = client.pipeline(transaction=True)
    for table, rows in org.rows.items():
        if rows:
            encoded = {key: json.dumps(row, sort_keys=True) for key, row in rows.items()}
            pipe.hset(redis_keys.security_rows(table), mapping=encoded)
    pipe.set(redis_keys.SECURITY_ROUND, round_)
    pipe.execute()
