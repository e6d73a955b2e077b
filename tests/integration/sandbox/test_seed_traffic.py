"""Seed and traffic against both sandboxes over real HTTP: what they made is visible through the protocols."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exchangelib import (
    BASIC,
    IMPERSONATION,
    UTC,
    Account,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    EWSDateTime,
    Task,
    Version,
)
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.crm.server import serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.ews_update import EwsUpdateError
from infra.sandbox.exchange.server import serve_exchange
from infra.sandbox.exchange.settings import ExchangeSandboxSettings
from infra.sandbox.seed import SandboxClientSettings, address_of, seed, user_names
from infra.sandbox.traffic import TrafficChange, run_traffic
from infra.sandbox.traffic_exchange import EXCHANGE_FIELDS, ExchangeSide, sandbox_mailboxes
from infra.sandbox.traffic_pairs import LinkedPair, paired_fields
from shared.crm.client import CrmClient

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxClientSettings]:
    """Both sandboxes on free ports over a fresh data folder."""
    with (
        serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as crm,
        serve_exchange(ExchangeSandboxSettings(data_dir=tmp_path), port=0) as ews,
    ):
        yield SandboxClientSettings(crm_base_url=crm.api_url, crm_token_url=crm.token_url, ews_url=ews.ews_url)


def quiet(message: str) -> None:
    """Progress lines are not what these tests check."""


async def owned(crm: CrmClient, entity_set: str, user_id: str) -> list[dict[str, Any]]:
    return [r for r in await crm.query(entity_set) if r.get("_ownerid_value") == user_id]


async def test_seed_makes_users_mailboxes_and_owned_records_once(sandbox: SandboxClientSettings) -> None:
    names = user_names(4)
    assert names == ["alice", "bob", "carol", "user4"]
    first = await seed(sandbox, names, progress=quiet)
    again = await seed(sandbox, names, progress=quiet)

    assert first.created == 4 * 6 and again.created == 0 and again.existing == 4 * 6
    assert again.users == first.users
    async with CrmClient.from_settings(sandbox) as crm:
        users = await crm.query("systemusers", select=["systemuserid", "internalemailaddress"])
        emails = [u["internalemailaddress"] for u in users]
        for name in ["admin", *names]:
            assert emails.count(address_of(name)) == 1, emails
        alice = first.users["alice"]
        contacts = await owned(crm, "contacts", alice)
        appointments = await owned(crm, "appointments", alice)
        tasks = await owned(crm, "tasks", alice)
        assert (len(contacts), len(appointments), len(tasks)) == (2, 2, 2)
        assert all(c["emailaddress1"].endswith("@example.com") and c["fullname"] for c in contacts)
        assert all(a["scheduledstart"].endswith("Z") and a["organizer"] == address_of("alice") for a in appointments)
        assert all(t["prioritycode"] in (1, 2) and t["statecode"] == 0 for t in tasks)
        assert await owned(crm, "contacts", first.users["admin"]) == []
    listed = await sandbox_mailboxes(sandbox)
    assert sorted(listed) == sorted(address_of(n) for n in ["admin", *names])


def ews_account(settings: SandboxClientSettings, mailbox: str) -> Account:
    config = Configuration(
        service_endpoint=settings.ews_url,
        credentials=Credentials(settings.ews_username, settings.ews_password.get_secret_value()),
        auth_type=BASIC, version=Version(build=EXCHANGE_2016),
    )
    return Account(mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)


def stored_value(settings: SandboxClientSettings, mailbox: str, entity: str, item_id: str, key: str) -> Any:
    """The field as exchangelib reads it back: the generator's own writes bypass exchangelib."""
    folder = next(f for f, (name, _, _) in EXCHANGE_FIELDS.items() if name == entity)
    attribute = next(a for a, field in EXCHANGE_FIELDS[folder][2].items() if field == key)
    return getattr(getattr(ews_account(settings, mailbox), folder).get(id=item_id), attribute)


def exchange_value(settings: SandboxClientSettings, change: TrafficChange) -> Any:
    assert change.mailbox is not None
    return stored_value(settings, change.mailbox, change.entity, change.record_id, change.field)


async def test_traffic_changes_both_sides_visibly(sandbox: SandboxClientSettings) -> None:
    await seed(sandbox, ["alice"], progress=quiet)
    report = await run_traffic(sandbox, rate=20, duration=1.5, crm_share=0.5, seed=7, progress=quiet)

    assert report.errors == []
    assert len(report.changes) == report.planned == 30
    assert report.on("crm") and report.on("exchange")
    assert report.paired == 0 and all(change.pair is None for change in report.changes)
    written: dict[tuple[str, str, str], set[Any]] = defaultdict(set)
    for change in report.changes:
        written[(change.side, change.record_id, change.field)].add(change.value)
        assert change.sent_at <= change.acked_at
    entity_sets = {"contact": "contacts", "appointment": "appointments", "task": "tasks"}
    async with CrmClient.from_settings(sandbox) as crm:
        for change in report.on("crm"):
            row = await crm.get(entity_sets[change.entity], change.record_id, [change.field])
            assert row[change.field] in written[("crm", change.record_id, change.field)], change
    last_exchange = {(c.record_id, c.field): c for c in report.on("exchange")}
    for change in last_exchange.values():
        stored = await asyncio.to_thread(exchange_value, sandbox, change)
        assert stored in written[("exchange", change.record_id, change.field)], change


async def test_traffic_refuses_nonsense_parameters(sandbox: SandboxClientSettings) -> None:
    with pytest.raises(ValueError, match="rate"):
        await run_traffic(sandbox, rate=0, duration=1, progress=quiet)
    with pytest.raises(ValueError, match="crm_share"):
        await run_traffic(sandbox, rate=1, duration=1, crm_share=1.5, progress=quiet)


def one_item_of_each_kind(settings: SandboxClientSettings, mailbox: str) -> None:
    account = ews_account(settings, mailbox)
    start = EWSDateTime.now(UTC)
    Contact(account=account, folder=account.contacts, given_name="Ann", surname="Lee", display_name="Ann Lee",
            job_title="Clerk").save()
    CalendarItem(account=account, folder=account.calendar, subject="Review", location="Room 1", start=start,
                 end=start + timedelta(hours=1)).save(send_meeting_invitations="SendToNone")
    Task(account=account, folder=account.tasks, subject="Call back").save()


async def test_exchange_changes_are_what_exchangelib_reads_back(sandbox: SandboxClientSettings) -> None:
    await seed(sandbox, ["alice"], progress=quiet)
    mailbox = address_of("alice")
    await asyncio.to_thread(one_item_of_each_kind, sandbox, mailbox)
    side = ExchangeSide(sandbox, [mailbox])
    rng = random.Random(5)
    try:
        await side.open()
        # A label XML must escape: the value has to arrive as written, not as markup.
        done = [await side.change(rng, f"{i} <&> \"q\" 'a'") for i in range(30)]
    finally:
        await side.close()
    last = {(entity, item_id, key): value for entity, item_id, _, key, value, _ in done}
    assert {(entity, key) for entity, _, key in last} == {
        (entity, key) for entity, _, fields in EXCHANGE_FIELDS.values() for key in fields.values()
    }
    for (entity, item_id, key), value in last.items():
        assert await asyncio.to_thread(stored_value, sandbox, mailbox, entity, item_id, key) == value


async def test_an_exchange_change_ews_refuses_raises_its_response_code(sandbox: SandboxClientSettings) -> None:
    await seed(sandbox, ["bob"], progress=quiet)
    mailbox = address_of("bob")
    side = ExchangeSide(sandbox, [mailbox])
    try:
        await side.open()
        [created] = side.created
        account = ews_account(sandbox, mailbox)
        await asyncio.to_thread(lambda: account.contacts.get(id=created.item_id).delete())
        with pytest.raises(EwsUpdateError) as caught:
            await side.change(random.Random(1), "gone")
    finally:
        await side.close()
    assert caught.value.code == "ErrorItemNotFound"


async def linked_by_hand(settings: SandboxClientSettings, user_id: str, mailbox: str) -> list[LinkedPair]:
    """Alice's CRM records paired with mailbox items of the same kind, as fieldsync's links would pair them."""
    await asyncio.to_thread(one_item_of_each_kind, settings, mailbox)
    account = ews_account(settings, mailbox)
    items = {entity: str(next(iter(getattr(account, folder).all())).id)
             for folder, (entity, _, _) in EXCHANGE_FIELDS.items()}
    async with CrmClient.from_settings(settings) as crm:
        records = {entity: (await owned(crm, entity_set, user_id))[0][key]
                   for entity_set, entity, key in (("contacts", "contact", "contactid"),
                                                   ("appointments", "appointment", "activityid"),
                                                   ("tasks", "task", "activityid"))}
    return [LinkedPair(entity, str(records[entity]), mailbox, items[entity]) for entity in items]


async def test_paired_edits_change_one_field_of_a_pair_on_both_sides_within_a_second(
    sandbox: SandboxClientSettings,
) -> None:
    report_of_seed = await seed(sandbox, ["alice"], progress=quiet)
    mailbox = address_of("alice")
    pairs = await linked_by_hand(sandbox, report_of_seed.users["alice"], mailbox)
    opened: list[datetime] = []

    async def mark() -> None:  # where a benchmark turns its faults on: after listing, before any change
        opened.append(datetime.now().astimezone())

    report = await run_traffic(sandbox, rate=20, duration=2, seed=3, progress=quiet, pairs=pairs,
                               two_sided_share=1.0, mailboxes=[mailbox], opened=mark)

    assert report.errors == []
    assert report.paired == 20 and len(report.changes) == 40
    assert len(opened) == 1 and opened[0] <= min(c.sent_at for c in report.changes)
    halves: dict[str | None, list[TrafficChange]] = defaultdict(list)
    for change in report.changes:
        halves[change.pair].append(change)
    by_pair = {(p.entity, p.crm_id): p for p in pairs}
    for label, (one, two) in ((k, sorted(v, key=lambda c: c.side)) for k, v in halves.items()):
        assert label is not None and (one.side, two.side) == ("crm", "exchange")
        assert one.entity == two.entity and one.field == two.field in paired_fields()[one.entity]
        pair = by_pair[(one.entity, one.record_id)]
        assert (two.mailbox, two.record_id) == (pair.mailbox, pair.exchange_id)
        assert one.value != two.value
        assert abs((one.sent_at - two.sent_at).total_seconds()) < 1.0
    entity_sets = {"contact": "contacts", "appointment": "appointments", "task": "tasks"}
    last = {(c.side, c.record_id, c.field): c for c in sorted(report.changes, key=lambda c: c.acked_at)}
    async with CrmClient.from_settings(sandbox) as crm:
        for (side, record_id, key), change in last.items():
            if side == "crm":
                assert (await crm.get(entity_sets[change.entity], record_id, [key]))[key] == change.value
            else:
                assert await asyncio.to_thread(exchange_value, sandbox, change) == change.value


async def test_paired_edits_need_a_pair_both_sides_list(sandbox: SandboxClientSettings) -> None:
    await seed(sandbox, ["alice"], progress=quiet)
    nowhere = [LinkedPair("contact", "00000000-0000-0000-0000-000000000000", address_of("alice"), "AAMk-none")]
    with pytest.raises(RuntimeError, match="linked pairs"):
        await run_traffic(sandbox, rate=5, duration=1, progress=quiet, pairs=nowhere, two_sided_share=0.5)
    with pytest.raises(ValueError, match="two_sided_share"):
        await run_traffic(sandbox, rate=5, duration=1, progress=quiet, two_sided_share=1.5)
