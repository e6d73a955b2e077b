"""The file attachments of CRM activities (`activitymimeattachments`): which files an activity has, their bytes.

An attachment has no owner: Dynamics secures it through its parent activity, so a write made as a user
(`caller_id`) is refused (Forbidden) unless that user may append to the activity. Reads list the files without
their content (the base64 `body` is selected only by `content`). Errors are CrmClient's (NotFound, Forbidden...).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from shared.crm.client import CrmClient, NotFound, etag_version

ENTITY_SET = "activitymimeattachments"
KEY = "activitymimeattachmentid"
COLUMNS = [KEY, "_objectid_value", "objecttypecode", "filename", "mimetype", "filesize", "versionnumber"]


@dataclass(frozen=True)
class CrmFile:
    """One attachment of an activity, without its content."""

    attachment_id: str  # lower-case guid
    parent_id: str  # the activity's id (lower-case)
    name: str
    content_type: str
    size: int
    version: str | None  # versionnumber (changes when the body is patched)


@dataclass(frozen=True)
class FilePage:
    """What a delta link returned: the files created or changed, the ids of those deleted, the next link."""

    rows: list[CrmFile]
    deleted: list[str]
    delta_link: str


def file_of(row: dict[str, Any]) -> CrmFile:
    """A Web API row (the COLUMNS) -> CrmFile."""
    version = row.get("versionnumber")
    return CrmFile(
        attachment_id=str(row[KEY]).lower(),
        parent_id=str(row.get("_objectid_value") or "").lower(),
        name=str(row.get("filename") or ""),
        content_type=str(row.get("mimetype") or "application/octet-stream"),
        size=int(row.get("filesize") or 0),
        version=str(version) if version is not None else etag_version(row.get("@odata.etag")),
    )


def _guid(value: str) -> str:
    """The guid in the Web API's lower-case form; ValueError for anything else (it goes into a $filter)."""
    return str(uuid.UUID(value))


class CrmAttachments:
    """The attachments of one activity table (`parent_type`, a logical name such as "appointment")."""

    def __init__(self, client: CrmClient, parent_type: str = "appointment") -> None:
        self.client, self.parent_type = client, parent_type

    async def changes(self, delta_link: str | None) -> FilePage:
        """Follow a delta link, or start change tracking (every current file) when None. Files of other
        tables' activities are left out; deleted ids are every table's (a deleted entity tells no parent)."""
        page = await self.client.changes(ENTITY_SET, KEY, delta_link, COLUMNS)
        rows = [file_of(r) for r in page.rows if r.get("objecttypecode") == self.parent_type]
        return FilePage(rows, page.deleted, page.delta_link)

    async def of(self, parent_id: str) -> list[CrmFile]:
        """The current attachments of one activity."""
        condition = f"_objectid_value eq {_guid(parent_id)} and objecttypecode eq '{self.parent_type}'"
        return [file_of(r) for r in await self.client.query(ENTITY_SET, select=COLUMNS, filter=condition)]

    async def content(self, attachment_id: str) -> bytes:
        row = await self.client.get(ENTITY_SET, _guid(attachment_id), ["body"])
        return base64.b64decode(row.get("body") or "")

    async def add(
        self, parent_id: str, name: str, content_type: str, content: bytes, *, caller_id: str | None
    ) -> str:
        """Attach a file to the activity (as `caller_id`, when given); returns the new attachment's id."""
        body = {
            "filename": name,
            "mimetype": content_type,
            "body": base64.b64encode(content).decode("ascii"),
            "objecttypecode": self.parent_type,
            # The activitypointer binding names any activity table; Dynamics resolves the parent by its id.
            "objectid_activitypointer@odata.bind": f"/activitypointers({_guid(parent_id)})",
        }
        created = await self.client.create(ENTITY_SET, body, caller_id=caller_id)
        return str(created[KEY]).lower()

    async def remove(self, attachment_id: str, *, caller_id: str | None) -> None:
        """Delete the attachment; one already gone is no error (a replayed removal)."""
        try:
            await self.client.delete(ENTITY_SET, _guid(attachment_id), caller_id=caller_id)
        except NotFound:
            return
