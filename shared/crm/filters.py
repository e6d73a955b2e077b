"""A user's sync filters as Dynamics stores them, read over the Web API, and the default templates copied in.

User filters are the `userqueries` of querytype 256 (OutlookFilters) the user owns, enabled while active
(statecode 0); system filters are the `savedqueries` of querytype 256, applying to every user; templates are
the `savedqueries` of querytype 131072 (OutlookTemplate) with `isdefault`, which Dynamics copies into a user's
filters when the mailbox is enabled: `ensure_templates` does the same the first time fieldsync meets a user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from shared.crm.client import DUPLICATE_KEY, CrmClient, CrmError

OUTLOOK_FILTERS, OUTLOOK_TEMPLATE = 256, 131072
ACTIVE = 0
FilterKind = Literal["user", "system", "template"]
_QUERY = ["name", "returnedtypecode", "fetchxml", "statecode", "querytype"]
# The copy of a template for a user has an id derived from both, so two first syncs racing make one copy.
_COPIES = uuid.UUID("d6c1f0a2-47b8-4e3d-9a5c-0e8f2b7d1c34")


@dataclass(frozen=True)
class SyncFilter:
    """One sync filter: a user's own (`user`), the organisation's for everyone (`system`), or a `template`."""

    id: str
    name: str
    entity: str
    fetchxml: str
    kind: FilterKind
    enabled: bool
    owner_id: str | None


def _filter(row: dict[str, Any], kind: FilterKind, key: str) -> SyncFilter:
    owner = row.get("_ownerid_value")
    return SyncFilter(
        id=str(row[key]).lower(), name=str(row.get("name") or ""), entity=str(row.get("returnedtypecode") or ""),
        fetchxml=str(row.get("fetchxml") or ""), kind=kind, enabled=row.get("statecode") == ACTIVE,
        owner_id=str(owner).lower() if owner and kind == "user" else None,
    )  # fmt: skip


async def user_filters(client: CrmClient, user_id: str) -> list[SyncFilter]:
    """The user's own sync filters, enabled and disabled, in name order."""
    where = f"_ownerid_value eq {user_id} and querytype eq {OUTLOOK_FILTERS}"
    rows = await client.query("userqueries", select=[*_QUERY, "_ownerid_value"], filter=where)
    return sorted((_filter(r, "user", "userqueryid") for r in rows), key=lambda f: (f.entity, f.name, f.id))


async def system_filters(client: CrmClient) -> list[SyncFilter]:
    """The organisation's sync filters, applying to every user."""
    rows = await client.query("savedqueries", select=[*_QUERY, "savedqueryid"],
                              filter=f"querytype eq {OUTLOOK_FILTERS}")  # fmt: skip
    return sorted((_filter(r, "system", "savedqueryid") for r in rows), key=lambda f: (f.entity, f.name, f.id))


async def templates(client: CrmClient) -> list[SyncFilter]:
    """The default templates a user's filters start from."""
    rows = await client.query("savedqueries", select=[*_QUERY, "savedqueryid"],
                              filter=f"querytype eq {OUTLOOK_TEMPLATE} and isdefault eq true")  # fmt: skip
    return sorted((_filter(r, "template", "savedqueryid") for r in rows), key=lambda f: (f.entity, f.name, f.id))


async def filters_of(client: CrmClient, user_id: str) -> list[SyncFilter]:
    """Every filter that may decide what reaches the user's mailbox: the user's own, then the system ones."""
    return [*await user_filters(client, user_id), *await system_filters(client)]


def copy_id(user_id: str, template_id: str) -> str:
    return str(uuid.uuid5(_COPIES, f"{user_id.lower()}:{template_id.lower()}"))


async def ensure_templates(client: CrmClient, user_id: str) -> list[SyncFilter]:
    """Copy the default templates into the user's filters when the user has none yet, and return the copies;
    nothing when the user has a filter already, enabled or not (a disabled filter is the user's choice)."""
    if await user_filters(client, user_id):
        return []
    made: list[SyncFilter] = []
    for template in await templates(client):
        copy = copy_id(user_id, template.id)
        body = {
            "userqueryid": copy, "name": template.name, "returnedtypecode": template.entity,
            "fetchxml": template.fetchxml, "querytype": OUTLOOK_FILTERS,
            "ownerid@odata.bind": f"/systemusers({user_id})",
        }  # fmt: skip
        try:
            await client.create("userqueries", body)
        except CrmError as error:
            if error.code != DUPLICATE_KEY:  # another first sync of the same user made this copy already
                raise
        made.append(SyncFilter(copy, template.name, template.entity, template.fetchxml, "user", True, user_id.lower()))
    return made
