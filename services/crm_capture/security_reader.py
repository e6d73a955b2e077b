"""Reads the security tables through the Web API as the service principal (who sees every row)."""

from __future__ import annotations

from typing import Protocol

from services.crm_capture.security_tables import (
    METADATA_KEY,
    SecurityTable,
    TableRead,
    fingerprint,
    kept,
    keyed,
    metadata_row,
)
from shared.crm.client import CrmClient, CrmError, InvalidCursor

_METADATA_SELECT = f"{METADATA_KEY},EntityLogicalName,LogicalName,IsSecured"


class SecuritySource(Protocol):
    """One table read: from its delta link (None: afresh), or whole for a table without change tracking."""

    async def read(self, table: SecurityTable, cursor: str | None) -> TableRead: ...


class WebApiSecurity:
    """Change tracking where the table has it; the attribute definitions of the synced entities otherwise.

    An organisation may not track changes of a table (Dynamics answers 400 to `Prefer: odata.track-changes`
    when change tracking is off for it): that table is then read whole with a plain query and fingerprinted,
    like the attribute definitions, for as long as the service runs."""

    def __init__(self, client: CrmClient, synced: frozenset[str]) -> None:
        self.client, self.synced = client, synced
        self.untracked: set[str] = set()

    async def read(self, table: SecurityTable, cursor: str | None) -> TableRead:
        if not table.tracked:
            return await self._attributes(table)
        if table.name in self.untracked:
            return await self._whole(table)
        try:
            page = await self.client.changes(table.name, table.key, cursor)
        except InvalidCursor:  # the token outlived the retention: read every row, a missing stored row is deleted
            cursor = None
            page = await self.client.changes(table.name, table.key, None)
        except CrmError as exc:
            if exc.status != 400:
                raise
            self.untracked.add(table.name)
            return await self._whole(table)
        rows = keyed(table, page.rows, self.synced)
        return TableRead(table, rows, tuple(page.deleted), whole=cursor is None, cursor=page.delta_link)

    async def _whole(self, table: SecurityTable) -> TableRead:
        rows = keyed(table, await self.client.query(table.name), self.synced)
        return TableRead(table, rows, whole=True, fingerprint=fingerprint(rows.values()))

    async def _attributes(self, table: SecurityTable) -> TableRead:
        rows = {}
        for entity in sorted(self.synced):
            path = f"EntityDefinitions(LogicalName='{entity}')/Attributes"
            response = await self.client.request("GET", path, params={"$select": _METADATA_SELECT})
            for definition in response.json().get("value", []):
                row = metadata_row(definition)
                if definition.get(METADATA_KEY) and kept(table.name, row, self.synced):
                    rows[str(definition[METADATA_KEY]).lower()] = row
        return TableRead(table, rows, whole=True, fingerprint=fingerprint(rows.values()))
