"""Makes a CRM appointment hold the files a delta wants: activitymimeattachments removed and added as the user.

The twin of exchange_applier/attachments.py: the same plan (shared.attachments), bytes from the content store,
files over the size cap never copied (the writer dead-letters the delta with their names once the rest is written).
Every write acts as the delta's user (MSCRMCallerID), so CRM decides whether that user may change the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import attachment_errors
from shared.attachment_store import AttachmentStore
from shared.attachments import Entry
from shared.crm.attachments import CrmAttachments
from shared.crm.client import CrmError
from shared.crm.state import CrmState

SYSTEM = "crm"


class AttachmentRefused(CrmError):
    """A file that cannot be copied however often the delta is retried (over the cap, bytes gone)."""

    def __init__(self, message: str) -> None:
        super().__init__(422, None, message)


@dataclass(frozen=True)
class FilesWritten:
    value: list[Entry] | None  # the files the record holds now, as the field's value
    changed: bool  # a file was added or removed
    too_large: tuple[Entry, ...] = ()


@dataclass
class CrmFiles:
    files: CrmAttachments
    store: AttachmentStore
    state: CrmState

    async def sync(self, entity: str, crm_id: str, wanted: list[dict[str, Any]] | None,
                   caller_id: str | None) -> FilesWritten:  # fmt: skip
        held = await self.files.of(crm_id)
        current = await self.store.entries(SYSTEM, [(f, f.version or "") for f in held], self.files.content)
        ready = await self.store.prepare(current, wanted)
        if ready.planned.empty:
            return FilesWritten(ready.held, False, ready.too_large)
        if ready.missing is not None:
            raise AttachmentRefused(attachment_errors.content_missing(ready.missing))
        # Announced first, with the values passed through on the way: the capture's index read half-way is ours.
        await self.state.announce(entity, crm_id, ready.announcement)
        for attachment_id in ready.planned.remove:
            await self.files.remove(attachment_id, caller_id=caller_id)
        for file, content in ready.contents:
            await self.files.add(crm_id, file["name"], file["content_type"], content, caller_id=caller_id)
        return FilesWritten(ready.after, True, ready.too_large)
