"""Seed and traffic against both sandboxes over real HTTP: what they made is visible through the protocols."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016

from infra.sandbox.crm.server import serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.exchange.server import serve_exchange
from infra.sandbox.exchange.settings import ExchangeSandboxSettings
from infra.sandbox.seed import SandboxClientSettings, address_of, seed, user_names
from infra.sandbox.traffic import TrafficChange, run_traffic
from infra.sandbox.traffic_exchange import EXCHANGE_FIELDS, sandbox_mailboxes
from shared.clients.crm import CrmClient

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


def exchange_value(settings: SandboxClientSettings, change: TrafficChange) -> Any:
    config = Configuration(
        service_endpoint=settings.ews_url,
        credentials=Credentials(settings.ews_username, settings.ews_password.get_secret_value()),
        auth_type=BASIC, version=Version(build=EXCHANGE_2016),
    )
    account = Account(change.mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)
    folder = next(f for f, (entity, _, _) in EXCHANGE_FIELDS.items() if entity == change.entity)
    attribute = next(a for a, key in EXCHANGE_FIELDS[folder][2].items() if key == change.field)
    return getattr(getattr(account, folder).get(id=change.record_id), attribute)


async def test_traffic_changes_both_sides_visibly(sandbox: SandboxClientSettings) -> None:
    await seed(sandbox, ["alice"], progress=quiet)
    report = await run_traffic(sandbox, rate=20, duration=1.5, crm_share=0.5, seed=7, progress=quiet)

    assert report.errors == []
    assert len(report.changes) == report.planned == 30
    assert report.on("crm") and report.on("exchange")
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
