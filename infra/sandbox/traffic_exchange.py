"""The Exchange side of the traffic generator: update one field of a mailbox item through EWS.

Listing and creating (once, in open()) go through exchangelib, which blocks, so those calls run in a bounded
thread pool (`ews_max_workers`) and are awaited. The per-change update is hand-built (infra.sandbox.ews_update,
the same bytes exchangelib sends) and posted with one httpx.AsyncClient on the event loop: exchangelib's item
model, XML tree and requests session in a thread made the generator cost a third of a core at 200 changes/s.
An update is one UpdateItem of the one field, with ConflictResolution=AlwaysOverwrite against the
ChangeKey the generator last saw (from the listing, then from its own previous update): the person's
client overwrites whatever fieldsync wrote in between (last writer wins), the way the CRM side PATCHes
with `If-Match: *`. So a change costs one EWS request, neither a read of the item nor a conflict.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from exchangelib import BASIC, IMPERSONATION, Account, CalendarItem, Configuration, Contact, Credentials, Task, Version
from exchangelib.items import Item
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.ews_update import new_changekey, update_request
from infra.sandbox.seed import ews_admin_url
from infra.sandbox.traffic_crm import Made
from infra.sandbox.traffic_shape import TrafficShape, pick
from shared.exchange.client import keep_pool_size
from shared.exchange.properties import ENTITY_MARKER, register_extended_properties
from shared.settings import ExchangeSettings

T = TypeVar("T")
RETRY_BASE_S = 0.2  # the first wait before sending a failed update again, doubled each time
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})  # "not now", as shared.exchange.sync reads them
# Folder attribute on Account -> (the folder's own entity, item class, {exchangelib field: canonical field key}).
# A task of a phone call, letter or fax is changed like any task (and says its entity: the CRM entity stamp);
# a service activity is never changed in Outlook by the generator: its fields flow CRM to Exchange only, so an
# Outlook edit is never delivered (by design), which the benchmark would count as lost.
EXCHANGE_FIELDS: dict[str, tuple[str, type[Item], dict[str, str]]] = {
    "contacts": ("contact", Contact, {"job_title": "jobtitle", "department": "department", "nickname": "nickname"}),
    "calendar": ("appointment", CalendarItem, {"location": "location", "subject": "subject"}),
    "tasks": ("task", Task, {"subject": "subject"}),
}


ONE_WAY = frozenset({"serviceappointment"})  # entities whose Outlook edits never reach CRM


@dataclass(frozen=True)
class ExchangeTarget:
    mailbox: str
    folder: str
    item_id: str
    entity: str = ""  # the CRM entity the item stands for; "" = the folder's own


async def sandbox_mailboxes(settings: ExchangeSettings) -> list[str]:
    """Every mailbox of the sandbox, from its admin endpoint (a real Exchange needs them passed in)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.get(ews_admin_url(settings.ews_url))
        response.raise_for_status()
        return [str(row["address"]) for row in response.json()]


class ExchangeSide:
    """Lifecycle: open() lists the items of each mailbox (creating one contact in a mailbox that has
    none, so there is something to change); change() updates one field; close() ends the thread pool and
    the HTTP client."""

    def __init__(self, settings: ExchangeSettings, mailboxes: list[str], retries: int = 0):
        register_extended_properties()  # the CRM entity stamp is read with each listed item
        self.settings = settings
        self.mailboxes = mailboxes
        self.retries = retries
        self.targets: list[ExchangeTarget] = []
        self.created: list[ExchangeTarget] = []
        self._pool = ThreadPoolExecutor(max_workers=settings.ews_max_workers, thread_name_prefix="traffic-ews")
        self._accounts: dict[str, Account] = {}
        # One change at a time per item, so each change's ack is that item's latest write.
        self._locks: dict[ExchangeTarget, asyncio.Lock] = {}
        self._changekeys: dict[ExchangeTarget, str] = {}  # the item's ChangeKey when we last saw it
        self._config = Configuration(
            service_endpoint=settings.ews_url,
            credentials=Credentials(settings.ews_username, settings.ews_password.get_secret_value()),
            auth_type=BASIC,
            version=Version(build=EXCHANGE_2016),
        )
        # Basic auth, the headers exchangelib sends, no retry (exchangelib's default policy fails fast) and
        # its 120 s timeout; at most ews_max_workers requests at once, as the thread pool allowed before.
        limit = settings.ews_max_workers
        self._http = httpx.AsyncClient(
            auth=httpx.BasicAuth(settings.ews_username, settings.ews_password.get_secret_value()),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=httpx.Timeout(120.0, pool=None),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )

    def _account(self, mailbox: str) -> Account:
        if mailbox not in self._accounts:
            self._accounts[mailbox] = Account(
                primary_smtp_address=mailbox, config=self._config, autodiscover=False, access_type=IMPERSONATION
            )
            keep_pool_size(self._accounts[mailbox].protocol)  # exchangelib's shrinking can deadlock under faults
        return self._accounts[mailbox]

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call, *args)

    def _list(self, mailbox: str) -> list[ExchangeTarget]:
        account = self._account(mailbox)
        found = []
        for folder, (_, item_class, _) in EXCHANGE_FIELDS.items():
            # Without .only(): exchangelib returns plain Item objects for an id-only shape, which would
            # hide every item from the class check (and leave traffic only its own, unlinked contacts).
            for item in getattr(account, folder).all():
                stamp = str(getattr(item, ENTITY_MARKER, None) or "")
                if isinstance(item, item_class) and stamp not in ONE_WAY:
                    target = ExchangeTarget(mailbox, folder, str(item.id), stamp)
                    self._changekeys[target] = str(item.changekey)
                    found.append(target)
        return found

    def _create_contact(self, mailbox: str) -> ExchangeTarget:
        account = self._account(mailbox)
        local = mailbox.split("@")[0]
        item = Contact(
            account=account, folder=account.contacts, given_name="Traffic", surname=local.capitalize(),
            display_name=f"Traffic {local.capitalize()}", job_title="Traffic generator", department="Testing",
        )
        item.save()
        target = ExchangeTarget(mailbox, "contacts", str(item.id))
        self._changekeys[target] = str(item.changekey)
        return target

    async def open(self) -> None:
        listed = await asyncio.gather(*(self._run(self._list, mailbox) for mailbox in self.mailboxes))
        for mailbox, targets in zip(self.mailboxes, listed, strict=True):
            if not targets:
                created = await self._run(self._create_contact, mailbox)
                self.created.append(created)
                targets = [created]
            self.targets += targets

    async def _update(self, target: ExchangeTarget, attribute: str, value: str) -> None:
        """One UpdateItem against the ChangeKey last seen; EwsUpdateError carries EWS's ResponseCode. A throttled,
        unavailable or dropped request is sent again up to `retries` times (Retry-After honoured), the way a
        person's client tries again; with no retries (the default) it fails the change."""
        body = update_request(
            target.mailbox, target.folder, attribute, target.item_id, self._changekeys[target], value
        )
        for attempt in range(1, self.retries + 2):
            try:
                # X-AnchorMailbox routes an impersonated request to the mailbox's server, as exchangelib sets it.
                response = await self._http.post(self.settings.ews_url, content=body,
                                                 headers={"X-AnchorMailbox": target.mailbox})
            except httpx.TransportError:
                if attempt > self.retries:
                    raise
                await asyncio.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
                continue
            if response.status_code in TRANSIENT_STATUSES and attempt <= self.retries:
                wait = response.headers.get("retry-after", "")
                await asyncio.sleep(float(wait) if wait.strip().isdigit() else RETRY_BASE_S * 2 ** (attempt - 1))
                continue
            self._changekeys[target] = new_changekey(response.status_code, response.content)
            return

    async def change(self, rng: random.Random, label: str, shape: TrafficShape | None = None) -> Made:
        """Update one field of an item picked at random (its entity and field weighted by `shape`, when given);
        returns what write() returns."""
        if shape is None:
            target = rng.choice(self.targets)
            fields = EXCHANGE_FIELDS[target.folder][2]
            attribute = rng.choice(sorted(fields))
        else:
            entity = pick(rng, shape.entity_weights("exchange"), sorted({self.entity_of(t) for t in self.targets}))
            target = rng.choice([t for t in self.targets if self.entity_of(t) == entity])
            fields = EXCHANGE_FIELDS[target.folder][2]
            by_key = {key: attribute for attribute, key in fields.items()}
            attribute = by_key[pick(rng, shape.field_weights("exchange", entity), sorted(by_key))]
        return await self.write(target, attribute, f"{fields[attribute]} {label}")

    @staticmethod
    def entity_of(target: ExchangeTarget) -> str:
        return target.entity or EXCHANGE_FIELDS[target.folder][0]

    async def write(self, target: ExchangeTarget, attribute: str, value: str) -> Made:
        """Update one field; returns (entity, item id, mailbox, canonical field, value, no source time)."""
        native, _, fields = EXCHANGE_FIELDS[target.folder]
        entity = target.entity or native
        async with self._locks.setdefault(target, asyncio.Lock()):
            await self._update(target, attribute, value)
        return entity, target.item_id, target.mailbox, fields[attribute], value, None

    async def close(self) -> None:
        await self._http.aclose()
        self._pool.shutdown(wait=True)
