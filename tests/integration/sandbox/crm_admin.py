"""A CRM administrator's view of the sandbox for the security tests: set security up over the Web API, then
act as people (MSCRMCallerID, or their own password-grant tokens)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings

SECRET_FORM = {"grant_type": "client_credentials", "client_id": "fieldsync", "client_secret": "sandbox-secret"}
PRIVILEGE_DENIED, ACCESS_DENIED = "0x80040220", "0x80048306"
SECURED_UPDATE, SECURED_CREATE = "0x8004F507", "0x8004F502"
SALES = {f"prv{verb}{table}": "Basic" for table in ("Contact", "Activity")
         for verb in ("Create", "Read", "Write", "Delete", "Append", "AppendTo")}  # fmt: skip


def entity_id(response: httpx.Response) -> str:
    assert response.status_code in (201, 204), response.text
    return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def error_code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


class Admin:
    """The application's client (a System Administrator) plus helpers that build an organisation."""

    def __init__(self, urls: CrmSandboxUrls) -> None:
        self.urls = urls
        access = httpx.post(urls.token_url, data=SECRET_FORM).json()["access_token"]
        self.http = httpx.Client(base_url=urls.api_url, headers={"Authorization": f"Bearer {access}"}, timeout=10)
        me = self.http.get("WhoAmI").json()
        self.root, self.me = me["BusinessUnitId"], me["UserId"]
        rows = self.http.get("privileges", params={"$select": "name"}).json()["value"]
        self.privileges = {r["name"]: r["privilegeid"] for r in rows}

    def close(self) -> None:
        self.http.close()

    def create(self, entity_set: str, body: dict[str, Any], **headers: str) -> str:
        return entity_id(self.http.post(entity_set, json=body, headers=headers))

    def unit(self, name: str, parent: str | None = None) -> str:
        bind = {"parentbusinessunitid@odata.bind": f"/businessunits({parent or self.root})"}
        return self.create("businessunits", {"name": unique(name), **bind})

    def user(self, name: str, unit: str, *roles: str) -> str:
        login = f"{name}-{uuid.uuid4().hex[:6]}@sandbox.local"
        user = self.create("systemusers", {
            "firstname": name, "lastname": "Test", "domainname": login, "internalemailaddress": login,
            "businessunitid@odata.bind": f"/businessunits({unit})",
        })  # fmt: skip
        for role in roles:
            self.associate("systemusers", user, "systemuserroles_association", "roles", role)
        return user

    def login(self, user: str) -> str:
        return str(self.http.get(f"systemusers({user})", params={"$select": "domainname"}).json()["domainname"])

    def role(self, privileges: dict[str, str], unit: str | None = None, name: str = "Role") -> str:
        unit = unit or self.root
        role = self.create("roles", {"name": unique(name), "businessunitid@odata.bind": f"/businessunits({unit})"})
        entries = [{"PrivilegeId": self.privileges[name], "Depth": depth, "BusinessUnitId": unit}
                   for name, depth in privileges.items()]  # fmt: skip
        action = f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole"
        response = self.http.post(action, json={"Privileges": entries})
        assert response.status_code == 204, response.text
        return role

    def team(self, unit: str, members: tuple[str, ...] = (), roles: tuple[str, ...] = (), teamtype: int = 0) -> str:
        team = self.create("teams", {"name": unique("Team"), "teamtype": teamtype,
                                     "businessunitid@odata.bind": f"/businessunits({unit})"})  # fmt: skip
        for member in members:
            self.associate("teams", team, "teammembership_association", "systemusers", member)
        for role in roles:
            self.associate("teams", team, "teamroles_association", "roles", role)
        return team

    def associate(self, entity_set: str, record: str, navigation: str, other_set: str, other: str) -> None:
        reference = {"@odata.id": f"{self.urls.api_url}{other_set}({other})"}
        response = self.http.post(f"{entity_set}({record})/{navigation}/$ref", json=reference)
        assert response.status_code == 204, response.text

    def contact(self, owner: str, **values: Any) -> str:
        """A contact owned by `owner` (a systemuser or, with owner='teams(<id>)', a team)."""
        target = owner if owner.startswith("teams(") else f"systemusers({owner})"
        return self.create("contacts", {"lastname": unique("Contact"), **values, "ownerid@odata.bind": f"/{target}"})

    def activity(self, entity_set: str = "appointments", owner: str | None = None) -> str:
        """An activity (an appointment by default) owned by `owner`, or by the application user."""
        bind = {"ownerid@odata.bind": f"/systemusers({owner})"} if owner else {}
        return self.create(entity_set, {"subject": unique("Visit"), **bind})

    def salespeople(self, *names: str) -> dict[str, str]:
        """Users of the root unit with Basic Salesperson privileges: none reaches another's records."""
        seller = self.role(SALES, name="Salesperson")
        return {name: self.user(name, self.root, seller) for name in names}

    def share(self, record: str, principal: str, rights: str, kind: str = "systemuser",
              action: str = "GrantAccess") -> None:  # fmt: skip
        body = {
            "Target": {"contactid": record, "@odata.type": "Microsoft.Dynamics.CRM.contact"},
            "PrincipalAccess": {"AccessMask": rights, "Principal": {f"{kind}id": principal,
                                                                    "@odata.type": f"Microsoft.Dynamics.CRM.{kind}"}},
        }  # fmt: skip
        response = self.http.post(action, json=body)
        assert response.status_code == 204, response.text


def acting(user: str) -> dict[str, str]:
    return {"MSCRMCallerID": user}


@contextmanager
def administering(data_dir: Path, **settings: Any) -> Iterator[Admin]:
    """A CRM sandbox over `data_dir` on a free port (with these settings), and its administrator."""
    with serve_crm(CrmSandboxSettings(data_dir=data_dir, **settings), port=0) as urls:
        admin = Admin(urls)
        try:
            yield admin
        finally:
            admin.close()
