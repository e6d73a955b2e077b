"""An item's files as the attachments field's value: each listed file with its digest, its bytes read once.

The client lists an item's file attachments without content; the value both sides compare holds each file's
SHA-256 (shared.attachments), so a file the content store has no digest for is read once and its bytes kept for
the other side's applier (shared.attachment_store). The twin of crm_capture/attachment_index.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.attachment_store import AttachmentStore
from shared.attachments import KEY
from shared.exchange.attachments import ExchangeAttachments
from shared.exchange.client import ItemState

SYSTEM = "exchange"
VERSION = "1"  # an Exchange attachment never changes: a new file is a new attachment


@dataclass
class ItemFiles:
    files: ExchangeAttachments
    store: AttachmentStore

    async def resolved(self, mailbox: str, items: dict[str, ItemState]) -> dict[str, ItemState]:
        """The items, each listed file replaced by its field entry (items without files as they are)."""
        out: dict[str, ItemState] = {}
        for exchange_id, item in items.items():
            listed = item.attributes.get(KEY)
            if listed:
                entries = await self.store.entries(SYSTEM, [(f, VERSION) for f in listed],
                                                   lambda attachment_id: self.files.content(mailbox, attachment_id))
                item = replace(item, attributes={**item.attributes, KEY: [entry for _, entry in entries]})
            out[exchange_id] = item
        return out
