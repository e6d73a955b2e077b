"""Makes a mailbox item hold the files a delta wants: DeleteAttachment and CreateAttachment, bytes from the store.

The plan (shared.attachments) keeps the files the item holds as often as wanted, removes the others and adds
the missing ones, taking their bytes from the content store where the other side's capture put them. Files over
the size cap are never copied: the writer dead-letters the delta with their names once the rest is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import attachment_errors
from shared.attachment_store import AttachmentStore
from shared.attachments import Entry
from shared.exchange.attachments import ExchangeAttachments
from shared.exchange.errors import ExchangeError
from shared.exchange.state import ExchangeState

SYSTEM = "exchange"
VERSION = "1"  # an Exchange attachment never changes: a new file is a new attachment


class AttachmentRefused(ExchangeError):
    """A file that cannot be copied however often the delta is retried (over the cap, bytes gone)."""


@dataclass(frozen=True)
class FilesWritten:
    value: list[Entry] | None  # the files the item holds now, as the field's value
    changekey: str | None  # the item's ChangeKey after the last file operation; None: nothing was changed
    too_large: tuple[Entry, ...] = ()


@dataclass
class ExchangeFiles:
    files: ExchangeAttachments
    store: AttachmentStore
    state: ExchangeState

    async def sync(
        self, mailbox: str, exchange_id: str, changekey: str, wanted: list[dict[str, Any]] | None
    ) -> FilesWritten:
        held = await self.files.list(mailbox, exchange_id)
        current = await self.store.entries(SYSTEM, [(f, VERSION) for f in held],
                                           lambda attachment_id: self.files.content(mailbox, attachment_id))
        ready = await self.store.prepare(current, wanted)
        if ready.planned.empty:
            return FilesWritten(ready.held, None, ready.too_large)
        if ready.missing is not None:
            raise AttachmentRefused(attachment_errors.content_missing(ready.missing))
        # Announced first, with the values passed through on the way: a capture reading half-way sees ours.
        await self.state.announce(mailbox, exchange_id, ready.announcement)
        key = changekey
        for attachment_id in ready.planned.remove:
            key = await self.files.remove(mailbox, attachment_id) or key  # None: gone already
        for file, content in ready.contents:
            attachment_id, key = await self.files.add(mailbox, exchange_id, key, file["name"], file["content_type"],
                                                      content)
            await self.store.remember(SYSTEM, attachment_id, VERSION, content)
        return FilesWritten(ready.after, key, ready.too_large)
