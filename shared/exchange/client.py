"""Exchange client: exchangelib over EWS with impersonation, its blocking calls run in bounded worker threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    Task,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.items import NEVER_OVERWRITE
from exchangelib.properties import ItemId
from exchangelib.version import EXCHANGE_2016

from shared.exchange import fields as exchange_fields
from shared.exchange.attachments import refs_of
from shared.exchange.errors import translate_error
from shared.exchange.properties import CREATION_MARKER, ENTITY_MARKER, register_extended_properties
from shared.exchange.sync import EwsSync, SyncPage
from shared.settings import ExchangeSettings

T = TypeVar("T")
# What each CRM entity is in Exchange and the folder it lives in (catalogue: exchange_item_class / _folder).
# Phone calls, letters and faxes are tasks, service activities and recurring series (their masters) calendar
# items, as Dynamics syncs them.
ITEM_TYPES: dict[str, type[Any]] = {
    "contact": Contact, "appointment": CalendarItem, "task": Task,
    "phonecall": Task, "letter": Task, "fax": Task, "serviceappointment": CalendarItem,
    "recurringappointmentmaster": CalendarItem,
}  # fmt: skip
FOLDERS = {
    "contact": "contacts", "appointment": "calendar", "task": "tasks",
    "phonecall": "tasks", "letter": "tasks", "fax": "tasks", "serviceappointment": "calendar",
    "recurringappointmentmaster": "calendar",
}  # fmt: skip
# The entity an item of a folder is when no link says otherwise: a task created and tracked in Outlook becomes
# a CRM task, never a phone call (an item's link names its entity: exchange_capture classifies by it).
NATIVE = {"contacts": "contact", "calendar": "appointment", "tasks": "task"}
# Read with every item besides the mapped fields: what capture needs for context and versions; `type`
# (CalendarItemType) tells an unlinked series master from a single appointment (exchange_capture/folder.py).
CONTEXT_ATTRIBUTES = (
    "categories", "last_modified_time", "my_response_type", "organizer", "type", CREATION_MARKER, ENTITY_MARKER,
)  # fmt: skip


def entity_stamp(entity: str) -> dict[str, str]:
    """The attributes that say which CRM entity a created item is, where its folder holds several."""
    return {ENTITY_MARKER: entity} if ITEM_TYPES.get(entity) in (Task, CalendarItem) else {}


@dataclass(frozen=True)
class ItemState:
    """One item as read: its ids, version, modification time and the exchangelib attributes fieldsync maps."""

    exchange_id: str
    changekey: str
    last_modified: datetime | None
    attributes: dict[str, Any]


def _folder_attributes(entity: str) -> tuple[str, ...]:
    """The attributes every entity of `entity`'s folder maps, and the context ones: an item of a folder is read
    before the capture knows which of the folder's entities it is (a phone call's task, a tracked task)."""
    folder = FOLDERS[entity]
    mapped = (a for e, f in FOLDERS.items() if f == folder and e in exchange_fields.CODECS
              for a in exchange_fields.read_attributes(e))  # fmt: skip
    return tuple(dict.fromkeys((*mapped, *CONTEXT_ATTRIBUTES)))


def read_fields(entity: str) -> list[str]:
    """What a read asks for: the mapped attributes and the context ones the item type has. Without
    only_fields exchangelib asks for every field of every item type, which the server renders and
    exchangelib parses, for nothing."""
    names = {f.name for f in ITEM_TYPES[entity].FIELDS}
    return [a for a in _folder_attributes(entity) if a in names]


def _item_state(entity: str, item: Any) -> ItemState:
    attributes = {name: getattr(item, name, None) for name in _folder_attributes(entity)}
    if "attachments" in attributes:  # listed without content, as FileRefs (shared.exchange.attachments)
        attributes["attachments"] = refs_of(attributes["attachments"])
    return ItemState(item.id, item.changekey, item.last_modified_time, attributes)


def keep_pool_size(protocol: Any) -> None:
    """Turn off exchangelib's shrinking of its session pool when the server asks to back off.

    exchangelib 5.6's `decrease_poolsize` takes the pool's lock and then waits for a free session to close, with
    the lock held; when every session is in use it waits for ever, and a thread that asks for a session while the
    pool is below its maximum waits for that same lock: under 429/503 answers the worker threads deadlocked and the
    capture stopped for good (seen in bench/convergence.py). fieldsync paces EWS itself (Retry-After, backoff:
    shared.pacing), and `ews_max_workers` already bounds the requests, so the pool keeps its size. The protocol is
    shared by every account of one configuration; setting this again is harmless.
    """
    protocol.decrease_poolsize = _keep


def _keep() -> None:
    """The pool keeps its size (see keep_pool_size)."""


class ExchangeClient:
    """One service account impersonating every mailbox; one cached Account per mailbox.

    exchangelib blocks, so every call runs in a ThreadPoolExecutor of `ews_max_workers` threads: that
    pool is the bound on concurrent EWS requests across all mailboxes.
    """

    def __init__(self, settings: ExchangeSettings) -> None:
        register_extended_properties()
        self._config = Configuration(
            service_endpoint=settings.ews_url,
            credentials=Credentials(settings.ews_username, settings.ews_password.get_secret_value()),
            auth_type=BASIC,
            version=Version(build=EXCHANGE_2016),
            max_connections=settings.ews_max_workers,
        )
        self._pool = ThreadPoolExecutor(settings.ews_max_workers, thread_name_prefix="ews")
        self._sync = EwsSync(
            settings.ews_url, settings.ews_username, settings.ews_password.get_secret_value(), settings.ews_max_workers
        )
        self._accounts: dict[str, Account] = {}
        self._accounts_lock = threading.Lock()

    async def close(self) -> None:
        await self._sync.aclose()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for account in list(self._accounts.values())[:1]:  # every account shares the one cached protocol
            account.protocol.close()

    async def _run(self, call: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except Exception as exc:
            translated = translate_error(exc)
            if translated is exc:
                raise
            raise translated from exc

    def _account(self, mailbox: str) -> Account:
        with self._accounts_lock:
            account = self._accounts.get(mailbox)
            if account is None:
                account = Account(
                    primary_smtp_address=mailbox, config=self._config, autodiscover=False, access_type=IMPERSONATION
                )
                keep_pool_size(account.protocol)
                self._accounts[mailbox] = account
            return account

    async def call(self, mailbox: str, work: Callable[[Account], T]) -> T:
        """`work` with the mailbox's impersonating Account, in the worker pool (errors translated)."""
        return await self._run(lambda: work(self._account(mailbox)))

    def _folder(self, mailbox: str, entity: str) -> Any:
        return getattr(self._account(mailbox), FOLDERS[entity])

    async def sync_page(self, mailbox: str, entity: str, sync_state: str | None, max_changes: int = 512) -> SyncPage:
        """One SyncFolderItems call (ids and ChangeKeys only, ews_sync): the caller advances its state per page."""
        return await self._sync.page(mailbox, FOLDERS[entity], sync_state, max_changes)

    async def get_items(self, mailbox: str, entity: str, ids: Iterable[str]) -> dict[str, ItemState]:
        """Current state of the given items; items that no longer exist are left out."""
        wanted = list(ids)
        if not wanted:
            return {}

        def call() -> dict[str, ItemState]:
            account = self._account(mailbox)
            found = {}
            items = account.fetch(ids=[ItemId(id=i) for i in wanted], folder=self._folder(mailbox, entity),
                                  only_fields=read_fields(entity))
            for item in items:
                if isinstance(item, ews_errors.ErrorItemNotFound):
                    continue
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, ITEM_TYPES[entity]):
                    found[item.id] = _item_state(entity, item)
            return found

        return await self._run(call)

    async def get_item(self, mailbox: str, entity: str, exchange_id: str) -> ItemState | None:
        return (await self.get_items(mailbox, entity, [exchange_id])).get(exchange_id)

    async def create(self, mailbox: str, entity: str, attributes: dict[str, Any]) -> ItemState:
        def call() -> ItemState:
            folder = self._folder(mailbox, entity)
            item = ITEM_TYPES[entity](account=folder.account, folder=folder, **attributes)
            item.save()
            return _item_state(entity, item)

        return await self._run(call)

    async def find_created(self, mailbox: str, entity: str, marker: str) -> ItemState | None:
        """The item of the folder that carries `marker` as its CREATION_MARKER (FindItem), or None."""

        def call() -> ItemState | None:
            query = self._folder(mailbox, entity).filter(**{CREATION_MARKER: marker}).only(*read_fields(entity))
            found = [item for item in query[:2] if isinstance(item, ITEM_TYPES[entity])]
            return _item_state(entity, found[0]) if found else None

        return await self._run(call)

    async def update(
        self, mailbox: str, entity: str, exchange_id: str, changekey: str, attributes: dict[str, Any]
    ) -> str:
        """UpdateItem of exactly `attributes` against `changekey`; a stale key raises Conflict. Returns the new key."""

        def call() -> str:
            account = self._account(mailbox)
            item = ITEM_TYPES[entity](account=account, id=exchange_id, changekey=changekey, **attributes)
            item.save(update_fields=list(attributes), conflict_resolution=NEVER_OVERWRITE)
            return str(item.changekey)

        return await self._run(call)

    async def delete(self, mailbox: str, entity: str, exchange_id: str, changekey: str | None = None) -> None:
        def call() -> None:
            account = self._account(mailbox)
            ITEM_TYPES[entity](account=account, id=exchange_id, changekey=changekey).delete()

        await self._run(partial(call))
