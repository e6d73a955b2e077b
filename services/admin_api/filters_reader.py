"""What the filter routes read from CRM over the Web API: mailboxes and their users, a user's identity, a user's
filters, and the records a user may read (MSCRMCallerID: the CRM applies the user's record and field security)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.crm.client import CrmClient
from shared.crm.filters import SyncFilter, filters_of
from shared.fetch_match import Identity


@dataclass(frozen=True)
class MailboxUser:
    mailbox: str
    user_id: str
    business_unit_id: str | None


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def _user(row: dict[str, Any]) -> MailboxUser:
    unit = row.get("_businessunitid_value")
    return MailboxUser(str(row["internalemailaddress"]).lower(), str(row["systemuserid"]).lower(),
                       str(unit).lower() if unit else None)  # fmt: skip


class FilterReader:
    """The CRM side of the filter routes; one CrmClient acting as the application user (a System Administrator)."""

    _USER = ["systemuserid", "internalemailaddress", "isdisabled", "_businessunitid_value"]

    def __init__(self, crm: CrmClient) -> None:
        self.crm = crm

    async def mailboxes(self) -> list[MailboxUser]:
        """Every enabled user with a mailbox but the application user, as exchange_capture finds mailboxes."""
        own = await self.crm.who_am_i()
        rows = await self.crm.query("systemusers", select=self._USER)
        users = [_user(r) for r in rows if r.get("internalemailaddress") and not r.get("isdisabled")]
        return sorted((u for u in users if u.user_id != own), key=lambda u: u.mailbox)

    async def mailbox(self, mailbox: str) -> MailboxUser | None:
        where = f"internalemailaddress eq '{_quoted(mailbox.strip())}'"
        rows = await self.crm.query("systemusers", select=self._USER, filter=where)
        enabled = [r for r in rows if not r.get("isdisabled")]
        return _user(enabled[0]) if enabled else None

    async def identity(self, user: MailboxUser) -> Identity:
        """Who `eq-userid`, `eq-userteams` and `eq-businessid` mean for this user."""
        rows = await self.crm.query("teammemberships", select=["teamid"], filter=f"systemuserid eq {user.user_id}")
        teams = frozenset(str(r["teamid"]).lower() for r in rows if r.get("teamid"))
        return Identity(user_id=user.user_id, team_ids=teams, business_unit_id=user.business_unit_id)

    async def filters(self, user: MailboxUser) -> list[SyncFilter]:
        return await filters_of(self.crm, user.user_id)

    async def readable(self, entity_set: str, user: MailboxUser) -> list[dict[str, Any]]:
        """Every record of the set the user may read, as the user reads it."""
        return await self.crm.query(entity_set, caller_id=user.user_id)
