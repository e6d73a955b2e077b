"""ews_sync's SyncFolderItems against the EWS sandbox over HTTP: pages, ChangeKeys as exchangelib sees them,
and every failure in the client's vocabulary."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Contact, Credentials, Version
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.exchange.server import ExchangeSandboxUrls
from shared.exchange.errors import ExchangeError, InvalidCursor, NoMailbox, Transient
from shared.exchange.sync import EwsSync, SyncChange

pytestmark = pytest.mark.integration
SERVICE_ACCOUNT, PASSWORD = "fieldsync-svc@sandbox.local", "sandbox-password"


@pytest.fixture
async def sync(sandbox: ExchangeSandboxUrls) -> AsyncIterator[EwsSync]:
    client = EwsSync(sandbox.ews_url, SERVICE_ACCOUNT, PASSWORD, max_connections=2)
    yield client
    await client.aclose()
    await set_faults(sandbox, {})  # the knobs off for the next test


async def set_faults(sandbox: ExchangeSandboxUrls, knobs: dict[str, object]) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.put(sandbox.faults_url, json=knobs)).status_code == 200


def mailbox_with_account(sandbox: ExchangeSandboxUrls) -> tuple[str, Account]:
    address = f"sync-{uuid.uuid4().hex[:8]}@sandbox.local"
    assert httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": "Sync"}).is_success
    config = Configuration(service_endpoint=sandbox.ews_url, credentials=Credentials(SERVICE_ACCOUNT, PASSWORD),
                           auth_type=BASIC, version=Version(build=EXCHANGE_2016))  # fmt: skip
    return address, Account(address, config=config, autodiscover=False, access_type=IMPERSONATION)


async def test_pages_follow_the_folder_with_the_changekeys_exchangelib_sees(
    sandbox: ExchangeSandboxUrls, sync: EwsSync
) -> None:
    address, account = mailbox_with_account(sandbox)
    items = [Contact(folder=account.contacts, display_name=f"C{n}", given_name=f"C{n}").save() for n in range(5)]
    pages, state = [], None
    while True:
        page = await sync.page(address, "contacts", state, max_changes=2)
        pages.append(page)
        state = page.sync_state
        if page.complete:
            break
    assert [len(p.changes) for p in pages] == [2, 2, 1] and [p.complete for p in pages] == [False, False, True]
    assert [c for p in pages for c in p.changes] == [SyncChange("create", i.id, i.changekey) for i in items]

    items[0].given_name = "Renamed"
    items[0].save(update_fields=["given_name"])
    deleted = items[1].id
    items[1].delete()
    page = await sync.page(address, "contacts", state, max_changes=512)
    assert page.changes == (SyncChange("update", items[0].id, items[0].changekey), SyncChange("delete", deleted, None))
    assert page.complete and (await sync.page(address, "contacts", page.sync_state, 512)).changes == ()
    assert (await sync.page(address, "calendar", None, 512)).changes == ()  # another folder, its own changes


async def test_an_address_without_a_mailbox_is_no_mailbox(sync: EwsSync) -> None:
    with pytest.raises(NoMailbox):
        await sync.page(f"nobody-{uuid.uuid4().hex[:6]}@sandbox.local", "contacts", None, 10)


async def test_a_sync_state_the_server_never_issued_is_an_invalid_cursor(
    sandbox: ExchangeSandboxUrls, sync: EwsSync
) -> None:
    address, _ = mailbox_with_account(sandbox)
    with pytest.raises(InvalidCursor, match="ErrorInvalidSyncStateData") as caught:
        await sync.page(address, "contacts", "bm90IGEgc3RhdGU=", 10)
    assert not isinstance(caught.value, Transient)
    assert "Synchronization state data is corrupt or otherwise invalid." in str(caught.value)


async def test_expired_sync_states_are_invalid_cursors_until_the_folder_is_synced_afresh(
    sandbox: ExchangeSandboxUrls, sync: EwsSync
) -> None:
    address, account = mailbox_with_account(sandbox)
    kept = Contact(folder=account.contacts, display_name="Kept", given_name="Kept").save()
    old = (await sync.page(address, "contacts", None, 512)).sync_state
    async with httpx.AsyncClient() as http:
        expired = await http.post(sandbox.expire_sync_states_url)
    assert expired.status_code == 200 and expired.json()["sync_generation"] >= 1
    with pytest.raises(InvalidCursor, match="ErrorInvalidSyncStateData"):
        await sync.page(address, "contacts", old, 512)
    fresh = await sync.page(address, "contacts", None, 512)  # afresh: every item once more, as a create
    assert fresh.changes == (SyncChange("create", kept.id, kept.changekey),) and fresh.complete
    assert (await sync.page(address, "contacts", fresh.sync_state, 512)).changes == ()


async def test_refused_credentials_are_a_permanent_error(sandbox: ExchangeSandboxUrls) -> None:
    address, _ = mailbox_with_account(sandbox)
    client = EwsSync(sandbox.ews_url, SERVICE_ACCOUNT, "wrong-password", max_connections=1)
    try:
        with pytest.raises(ExchangeError, match="401") as caught:
            await client.page(address, "contacts", None, 10)
        assert not isinstance(caught.value, Transient)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("knobs", "retry_after"),
    [({"throttle_ratio": 1.0, "retry_after_s": 4}, 4.0), ({"unavailable_ratio": 1.0, "retry_after_s": 0}, 0.0),
     ({"drop_ratio": 1.0}, None)],
)  # fmt: skip
async def test_throttling_outages_and_dropped_connections_are_transient(
    sandbox: ExchangeSandboxUrls, sync: EwsSync, knobs: dict[str, object], retry_after: float | None
) -> None:
    address, _ = mailbox_with_account(sandbox)
    await set_faults(sandbox, knobs)
    with pytest.raises(Transient) as caught:
        await sync.page(address, "contacts", None, 10)
    assert caught.value.retry_after == retry_after
