"""shared.crm.filters against the sandbox over real HTTP: a user's filters, the system filters, the templates
and their copy into a user's filters the first time (idempotent, also when two first syncs race)."""

from __future__ import annotations

import asyncio

import pytest

from shared.crm.client import CrmClient
from shared.crm.filters import (
    OUTLOOK_FILTERS,
    SyncFilter,
    copy_id,
    ensure_templates,
    filters_of,
    system_filters,
    templates,
    user_filters,
)
from shared.fetchxml import parse
from tests.integration.crm.conftest import CrmUser

pytestmark = pytest.mark.integration

BUYERS = ('<fetch><entity name="contact"><filter><condition attribute="jobtitle" operator="eq" value="Buyer"/>'
          "</filter></entity></fetch>")  # fmt: skip
SYNCED = {"contact", "appointment", "recurringappointmentmaster", "task", "phonecall", "letter", "fax",
          "serviceappointment"}  # fmt: skip


async def _user_filter(client: CrmClient, owner: str, name: str, statecode: int = 0) -> str:
    row = await client.create("userqueries", {
        "name": name, "querytype": OUTLOOK_FILTERS, "returnedtypecode": "contact", "fetchxml": BUYERS,
        "statecode": statecode, "ownerid@odata.bind": f"/systemusers({owner})",
    })  # fmt: skip
    return str(row["userqueryid"])


async def test_the_templates_are_the_defaults_of_every_synced_table(crm_client: CrmClient) -> None:
    found = await templates(crm_client)
    assert {f.entity for f in found} == SYNCED and {f.kind for f in found} == {"template"}
    contact = next(f for f in found if f.entity == "contact")
    assert contact.name == "My Active Contacts" and contact.enabled and contact.owner_id is None
    assert parse(contact.fetchxml).entity == "contact"  # every template is inside the subset fieldsync evaluates
    assert all(parse(f.fetchxml).filter is not None for f in found)


async def test_user_filters_enabled_and_disabled_and_the_system_filters(crm_client: CrmClient, crm_user: CrmUser,
                                                                        ) -> None:
    active = await _user_filter(crm_client, crm_user.id, "Buyers")
    inactive = await _user_filter(crm_client, crm_user.id, "Old buyers", statecode=1)
    system = await crm_client.create("savedqueries", {
        "name": "Everyone's buyers", "querytype": OUTLOOK_FILTERS, "returnedtypecode": "contact", "fetchxml": BUYERS,
    })  # fmt: skip
    own = await user_filters(crm_client, crm_user.id)
    assert own == [
        SyncFilter(active, "Buyers", "contact", BUYERS, "user", True, crm_user.id),
        SyncFilter(inactive, "Old buyers", "contact", BUYERS, "user", False, crm_user.id),
    ]
    assert [(f.id, f.kind, f.owner_id) for f in await system_filters(crm_client)] == [
        (system["savedqueryid"], "system", None)]
    assert [f.id for f in await filters_of(crm_client, crm_user.id)] == [active, inactive, system["savedqueryid"]]
    assert await ensure_templates(crm_client, crm_user.id) == []  # the user has filters: nothing is copied


async def test_templates_are_copied_once_into_a_user_without_filters(crm_client: CrmClient, crm_user: CrmUser) -> None:
    made = await ensure_templates(crm_client, crm_user.id)
    assert {f.entity for f in made} == SYNCED
    own = await user_filters(crm_client, crm_user.id)
    assert sorted(own, key=lambda f: f.id) == sorted(made, key=lambda f: f.id)
    assert all(f.kind == "user" and f.enabled and f.owner_id == crm_user.id for f in own)
    by_entity = {t.entity: t for t in await templates(crm_client)}
    assert all(f.fetchxml == by_entity[f.entity].fetchxml and f.name == by_entity[f.entity].name for f in own)
    assert all(f.id == copy_id(crm_user.id, by_entity[f.entity].id) for f in own)

    assert await ensure_templates(crm_client, crm_user.id) == []
    disabled = own[0]
    await crm_client.update("userqueries", disabled.id, {"statecode": 1, "statuscode": 2})
    assert await ensure_templates(crm_client, crm_user.id) == []  # a disabled filter stays disabled
    assert len(await user_filters(crm_client, crm_user.id)) == len(SYNCED)


async def test_two_first_syncs_racing_make_one_copy_of_each_template(crm_client: CrmClient, crm_user: CrmUser,
                                                                    ) -> None:
    first, second = await asyncio.gather(ensure_templates(crm_client, crm_user.id),
                                         ensure_templates(crm_client, crm_user.id))  # fmt: skip
    assert {f.id for f in first} == {f.id for f in second} or not first or not second
    assert len(await user_filters(crm_client, crm_user.id)) == len(SYNCED)
