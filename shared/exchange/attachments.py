"""An item's file attachments over EWS: list them, read one's bytes, add one, delete one (exchangelib services).

Each add or delete answers with the item's new ChangeKey (RootItemChangeKey), which the applier records so its own
write is recognised; exchangelib's `Attachment.detach()` drops that answer, so DeleteAttachment is called here.
Calls run in the client's worker threads, impersonating the mailbox; errors come out translated (errors.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exchangelib import CalendarItem, FileAttachment
from exchangelib import errors as ews_errors
from exchangelib.attachments import AttachmentId
from exchangelib.properties import ItemId
from exchangelib.services import CreateAttachment, DeleteAttachment, GetAttachment

from shared.attachments import DEFAULT_TYPE

if TYPE_CHECKING:
    from exchangelib import Account

    from shared.exchange.client import ExchangeClient


@dataclass(frozen=True)
class FileRef:
    """One file attachment of an item, without its content."""

    attachment_id: str
    name: str
    content_type: str
    size: int


def refs_of(attachments: Iterable[Any] | None) -> list[FileRef]:
    """exchangelib's `item.attachments` as FileRefs: file attachments only (an attached message is no file)."""
    return [FileRef(str(a.attachment_id.id), str(a.name or ""), str(a.content_type or DEFAULT_TYPE), int(a.size or 0))
            for a in attachments or () if isinstance(a, FileAttachment) and a.attachment_id]  # fmt: skip


class ExchangeAttachments:
    def __init__(self, client: ExchangeClient) -> None:
        self._client = client

    async def list(self, mailbox: str, exchange_id: str) -> list[FileRef]:
        def work(account: Account) -> list[FileRef]:
            [item] = list(account.fetch(ids=[ItemId(id=exchange_id)], folder=account.calendar,
                                        only_fields=["attachments"]))  # fmt: skip
            if isinstance(item, Exception):
                raise item
            return refs_of(item.attachments)

        return await self._client.call(mailbox, work)

    async def content(self, mailbox: str, attachment_id: str) -> bytes:
        def work(account: Account) -> bytes:
            file = GetAttachment(account=account).get(
                items=[AttachmentId(id=attachment_id)], include_mime_content=False, body_type=None,
                filter_html_content=None, additional_fields=None,
            )  # fmt: skip
            return bytes(file.content or b"")

        return await self._client.call(mailbox, work)

    async def add(self, mailbox: str, exchange_id: str, changekey: str, name: str, content_type: str,
                  content: bytes) -> tuple[str, str]:  # fmt: skip
        """Attach a file; (its attachment id, the item's new ChangeKey)."""

        def work(account: Account) -> tuple[str, str]:
            parent = CalendarItem(account=account, id=exchange_id, changekey=changekey)
            file = FileAttachment(name=name, content_type=content_type, content=content)
            made = CreateAttachment(account=account).get(parent_item=parent, items=[file])
            return str(made.attachment_id.id), str(made.attachment_id.root_changekey)

        return await self._client.call(mailbox, work)

    async def remove(self, mailbox: str, attachment_id: str) -> str | None:
        """Delete a file; the item's new ChangeKey, or None when the file was gone already."""

        def work(account: Account) -> str | None:
            try:
                root = DeleteAttachment(account=account).get(items=[AttachmentId(id=attachment_id)])
            except ews_errors.ErrorInvalidAttachmentId:
                return None
            return str(root.changekey)

        return await self._client.call(mailbox, work)
