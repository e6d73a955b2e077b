"""SyncFolderItems through exchangelib: each change once, coalescing, paging, and states that outlive restarts."""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import httpx
import pytest
from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    EWSDateTime,
    Task,
    Version,
)
from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.folders import Folder
from exchangelib.services import SyncFolderItems
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.exchange.server import ExchangeSandboxUrls, serve_exchange
from infra.sandbox.exchange.settings import ExchangeSandboxSettings

pytestmark = pytest.mark.integration


def connect(sandbox: ExchangeSandboxUrls, address: str) -> Account:
    assert httpx.post(sandbox.mailboxes_url, json={"address": address, "display_name": "Sync"}).is_success
    config = Configuration(
        service_endpoint=sandbox.ews_url,
        credentials=Credentials("fieldsync-svc@sandbox.local", "sandbox-password"),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
    )
    return Account(primary_smtp_address=address, config=config, autodiscover=False, access_type=IMPERSONATION)


@pytest.fixture
def account(sandbox: ExchangeSandboxUrls) -> Account:
    return connect(sandbox, f"sync-{uuid.uuid4().hex[:8]}@sandbox.local")


def changes(folder: Folder, **kwargs: object) -> list[tuple[str, str]]:
    """(change type, item id) of one full sync; exchangelib stores the new state on the folder only when
    the generator is consumed to the end."""
    found = []
    for kind, item in folder.sync_items(**kwargs):
        found.append((kind, item.id))
    return found


def contact(account: Account, name: str) -> Contact:
    item = Contact(folder=account.contacts, display_name=name, given_name=name)
    item.save()
    return item


def test_create_update_delete_are_each_seen_exactly_once(account: Account) -> None:
    folder = account.contacts
    assert changes(folder) == []
    first_state = folder.item_sync_state
    assert first_state

    item = contact(account, "Once")
    assert changes(folder) == [("create", item.id)]
    assert changes(folder) == []
    item.given_name = "Twice"
    item.save(update_fields=["given_name"])
    synced = list(folder.sync_items())
    assert [(kind, i.id, i.given_name, i.changekey) for kind, i in synced] == [
        ("update", item.id, "Twice", item.changekey)
    ]
    item_id = item.id
    item.delete()  # exchangelib forgets the id of a deleted item
    assert changes(folder) == [("delete", item_id)]
    assert changes(folder) == []
    # An old state replays what happened since then, coalesced: created and deleted means nothing.
    assert changes(folder, sync_state=first_state) == []


def test_changes_of_one_item_coalesce(account: Account) -> None:
    folder = account.contacts
    kept, dropped = contact(account, "Kept"), contact(account, "Dropped")
    changes(folder)
    fresh = contact(account, "Fresh")
    fresh.given_name = "Fresher"
    fresh.save(update_fields=["given_name"])
    gone = contact(account, "Gone")
    gone.delete()
    for name in ("One", "Two"):
        kept.given_name = name
        kept.save(update_fields=["given_name"])
    dropped.given_name = "Changed"
    dropped.save(update_fields=["given_name"])
    dropped_id = dropped.id
    dropped.delete()
    assert sorted(changes(folder)) == sorted([("create", fresh.id), ("update", kept.id), ("delete", dropped_id)])


def test_paging_by_max_changes_returned(account: Account) -> None:
    folder = account.contacts
    created = {contact(account, f"Page {n}").id for n in range(7)}
    service = SyncFolderItems(account=account)
    page = list(
        service.call(
            folder=folder,
            shape="IdOnly",
            additional_fields=set(),
            sync_state=None,
            ignore=None,
            max_changes_returned=3,
            sync_scope=None,
        )
    )
    assert len(page) == 3 and service.includes_last_item_in_range is False
    rest = list(
        service.call(
            folder=folder,
            shape="IdOnly",
            additional_fields=set(),
            sync_state=service.sync_state,
            ignore=None,
            max_changes_returned=100,
            sync_scope=None,
        )
    )
    assert len(rest) == 4 and service.includes_last_item_in_range is True
    assert {item.id for _, item in page + rest} == created
    # exchangelib's own loop follows IncludesLastItemInRange=false until the end.
    seen = changes(folder, max_changes_returned=2)
    assert sorted(item_id for _, item_id in seen) == sorted(created)
    assert {kind for kind, _ in seen} == {"create"}


def test_calendar_and_tasks_folders_sync_their_item_types(account: Account) -> None:
    start = EWSDateTime(2026, 12, 1, 9, 0, tzinfo=account.default_timezone)
    meeting = CalendarItem(
        folder=account.calendar, subject="Sync me", start=start, end=start + datetime.timedelta(hours=1)
    )
    meeting.save(send_meeting_invitations="SendToNone")
    task = Task(folder=account.tasks, subject="Sync me too", due_date=datetime.date(2026, 12, 2))
    task.save()
    (calendar_change,) = list(account.calendar.sync_items())
    (task_change,) = list(account.tasks.sync_items())
    assert calendar_change[0] == "create" and isinstance(calendar_change[1], CalendarItem)
    assert calendar_change[1].subject == "Sync me" and calendar_change[1].start == start
    assert task_change[0] == "create" and isinstance(task_change[1], Task)
    assert task_change[1].due_date == datetime.date(2026, 12, 2)
    assert list(account.contacts.sync_items()) == []


def test_a_foreign_or_forged_sync_state_is_refused(account: Account, sandbox: ExchangeSandboxUrls) -> None:
    changes(account.calendar)
    calendar_state = account.calendar.item_sync_state
    with pytest.raises(ErrorInvalidSyncStateData):
        changes(account.contacts, sync_state=calendar_state)
    with pytest.raises(ErrorInvalidSyncStateData):
        changes(account.contacts, sync_state="bm90IGEgc3RhdGU=")


def test_items_and_sync_states_survive_a_restart(tmp_path: Path) -> None:
    settings = ExchangeSandboxSettings(data_dir=tmp_path)
    address = f"restart-{uuid.uuid4().hex[:8]}@sandbox.local"
    with serve_exchange(settings, port=0) as first:
        before = connect(first, address)
        old, changed = contact(before, "Old"), contact(before, "Changed")
        changes(before.contacts)
        state = before.contacts.item_sync_state
    with serve_exchange(settings, port=0) as second:
        after = connect(second, address)
        assert after.contacts.id == before.contacts.id
        survived = after.contacts.get(id=old.id)
        assert (survived.given_name, survived.changekey) == ("Old", old.changekey)
        assert changes(after.contacts, sync_state=state) == []
        reopened = after.contacts.get(id=changed.id)
        assert reopened.changekey == changed.changekey
        reopened.given_name = "After restart"
        reopened.save(update_fields=["given_name"])
        new = contact(after, "New")
        assert sorted(changes(after.contacts, sync_state=state)) == sorted([("update", changed.id), ("create", new.id)])
