"""crm_applier under CRM's security: writes act as the delta's user (MSCRMCallerID), and a write CRM refuses (403)
is reported "denied" (never dead-lettered) with CRM's values published back for the mailbox."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.crm_applier.settings import CrmApplierSettings
from shared import topics
from shared.crm.client import CrmClient
from shared.crm.state import echo_key
from shared.events import ItemChanged
from shared.item_state import ECHO_ANNOUNCED
from tests.integration.crm.conftest import CrmUser
from tests.integration.crm.harness import make_delta, result_of, send

pytestmark = pytest.mark.integration


async def secure(crm: CrmClient, entity: str, attribute: str) -> None:
    body = {"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "LogicalName": attribute,
            "IsSecured": True}  # fmt: skip
    await crm.request("PUT", f"EntityDefinitions(LogicalName='{entity}')/Attributes(LogicalName='{attribute}')",
                      json=body)  # fmt: skip


async def reverts_of(reader: Any, delta_id: str, count: int = 1) -> list[ItemChanged]:
    records = await reader.wait_for(
        lambda r: ItemChanged.model_validate_json(r.value).causation_id == delta_id, count=count,
        what=f"the change back for {delta_id}",
    )  # fmt: skip
    return [ItemChanged.model_validate_json(r.value) for r in records]


async def test_a_delta_with_an_acting_user_is_written_as_that_user_on_behalf_of_fieldsync(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    crm_id = (await crm_user.client.create("contacts", {"lastname": "Acting"}))["contactid"]
    fieldsync = await crm_client.who_am_i()

    delta = make_delta(crm_id=crm_id, mailbox=crm_user.email, changed={"jobtitle": "As the user"},
                       acting_user=crm_user.id)  # fmt: skip
    await send(producer, delta)
    [outcome] = await result_of(applied, delta)
    assert outcome.result == "applied"
    row = await crm_client.get("contacts", crm_id)
    assert row["jobtitle"] == "As the user"
    assert str(row["_modifiedby_value"]).lower() == crm_user.id.lower()
    assert str(row["_modifiedonbehalfby_value"]).lower() == fieldsync

    unacted = make_delta(crm_id=crm_id, changed={"jobtitle": "As fieldsync"})
    await send(producer, unacted)
    [outcome] = await result_of(applied, unacted)
    row = await crm_client.get("contacts", crm_id)
    assert (outcome.result, row["jobtitle"]) == ("applied", "As fieldsync")
    assert str(row["_modifiedby_value"]).lower() == fieldsync and row["_modifiedonbehalfby_value"] is None


async def test_an_update_of_a_secured_field_is_denied_and_crms_value_goes_back_to_the_mailbox(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    crm_id = (await crm_user.client.create("contacts", {"lastname": "Guarded", "jobtitle": "CRM title"}))["contactid"]
    await secure(crm_client, "contact", "jobtitle")

    delta = make_delta(crm_id=crm_id, mailbox=crm_user.email, acting_user=crm_user.id,
                       changed={"jobtitle": "Outlook title", "nickname": "Nick"})  # fmt: skip
    await send(producer, delta)
    [outcome] = await result_of(applied, delta)
    # CRM refused the secured field; the user's other change is written without it.
    assert outcome.result == "denied" and outcome.changed == {"nickname": "Nick"}
    assert (outcome.error or "").startswith("0x8004F507: ") and "jobtitle" in (outcome.error or "")
    row = await crm_client.get("contacts", crm_id)
    assert (row["jobtitle"], row["nickname"]) == ("CRM title", "Nick")
    assert str(row["_modifiedby_value"]).lower() == crm_user.id.lower()

    [back] = await reverts_of(changes, delta.event_id)
    assert (back.entity, back.crm_id, back.op) == ("contact", crm_id, "update")
    assert (back.changed, back.previous) == ({"jobtitle": "CRM title"}, {"jobtitle": "Outlook title"})
    assert back.context == {"ownerid": crm_user.id.lower(), "owner_mailbox": crm_user.email, "statecode": 0,
                            "denied_for": crm_user.email}  # fmt: skip
    assert back.version == str(row["versionnumber"])
    redis = Redis.from_url(applier.redis_url)
    try:  # the refused write's announcement is gone: a later change to those values is no echo
        assert await redis.hget(echo_key("contact", crm_id), ECHO_ANNOUNCED) is None
    finally:
        await redis.aclose()

    await send(producer, delta)  # a replay is a duplicate: nothing is written or sent back again
    assert (await result_of(applied, delta, count=2))[1].result == "duplicate"
    assert len(await reverts_of(changes, delta.event_id)) == 1

    alone = make_delta(crm_id=crm_id, mailbox=crm_user.email, acting_user=crm_user.id,
                       changed={"jobtitle": "Outlook again"})  # fmt: skip
    await send(producer, alone)
    [outcome] = await result_of(applied, alone)
    assert (outcome.result, outcome.changed) == ("denied", {})
    [back] = await reverts_of(changes, alone.event_id)
    assert (back.changed, back.previous) == ({"jobtitle": "CRM title"}, {"jobtitle": "Outlook again"})
    assert not deadletter.matching(lambda r: r.key == f"contact:{crm_id}".encode())


async def test_a_create_with_a_secured_field_the_user_may_not_create_is_made_without_it(
    applier: CrmApplierSettings, crm_user: CrmUser, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    await secure(crm_client, "contact", "jobtitle")
    last = f"Created-{uuid.uuid4().hex[:6]}"
    fields = {"fullname": {"firstname": "Eve", "middlename": None, "lastname": last}, "jobtitle": "Spy"}
    create = make_delta(op="create", mailbox=crm_user.email, exchange_id=f"AAMk-{uuid.uuid4().hex}",
                        acting_user=crm_user.id, changed=fields)  # fmt: skip
    await send(producer, create)
    [outcome] = await result_of(applied, create)
    assert outcome.result == "denied" and (outcome.error or "").startswith("0x8004F502: ")
    assert outcome.crm_id and outcome.changed == {"fullname": fields["fullname"]}
    row = await crm_client.get("contacts", outcome.crm_id)
    assert (row["lastname"], row["jobtitle"], row["_ownerid_value"]) == (last, None, crm_user.id)
    [back] = await reverts_of(changes, create.event_id)
    assert (back.crm_id, back.changed, back.previous) == (outcome.crm_id, {"jobtitle": None}, {"jobtitle": "Spy"})


async def test_a_write_without_the_privilege_is_denied_not_dead_lettered(
    applier: CrmApplierSettings, crm_client: CrmClient, producer: AIOKafkaProducer, read_topic: Any
) -> None:
    applied = await read_topic(topics.APPLIED.full_name)
    changes = await read_topic(topics.CRM_CHANGES.full_name)
    deadletter = await read_topic(topics.DEADLETTER.full_name)
    email = f"norole-{uuid.uuid4().hex[:8]}@sandbox.local"
    user = (await crm_client.create("systemusers", {"lastname": "No role", "internalemailaddress": email}))
    user_id = user["systemuserid"]
    row = await crm_client.create("contacts", {"lastname": "Theirs", "jobtitle": "Kept",
                                               "ownerid@odata.bind": f"/systemusers({user_id})"})  # fmt: skip
    crm_id = row["contactid"]

    delta = make_delta(crm_id=crm_id, mailbox=email, acting_user=user_id, changed={"jobtitle": "Refused"})
    await send(producer, delta)
    [outcome] = await result_of(applied, delta)
    assert outcome.result == "denied" and (outcome.error or "").startswith("0x80040220: ")
    assert (await crm_client.get("contacts", crm_id))["jobtitle"] == "Kept"
    [back] = await reverts_of(changes, delta.event_id)
    assert (back.changed, back.previous) == ({"jobtitle": "Kept"}, {"jobtitle": "Refused"})
    assert back.context["denied_for"] == email and back.context["owner_mailbox"] == email

    create = make_delta(op="create", mailbox=email, exchange_id=f"AAMk-{uuid.uuid4().hex}", acting_user=user_id,
                        changed={"jobtitle": "New"})  # fmt: skip
    await send(producer, create)
    [outcome] = await result_of(applied, create)
    assert outcome.result == "denied" and outcome.crm_id is None  # nothing in CRM to send back
    assert not deadletter.matching(lambda r: r.key in (f"contact:{crm_id}".encode(),))
