"""CrmClient against the sandbox over real HTTP: CRUD, etags, change tracking, Retry-After, dropped connections."""

from __future__ import annotations

import uuid

import pytest

from infra.sandbox.crm.server import CrmSandboxUrls
from shared.crm.client import (
    DUPLICATE_KEY,
    CrmClient,
    NotFound,
    PreconditionFailed,
    RetryPolicy,
    Unavailable,
    etag_version,
)
from tests.integration.crm.conftest import CrmUser, client_for
from tests.integration.harness import set_faults

pytestmark = pytest.mark.integration


async def test_crud_with_etags(crm_client: CrmClient) -> None:
    last = f"L-{uuid.uuid4().hex[:6]}"
    created = await crm_client.create("contacts", {"firstname": "Ada", "lastname": last})
    contact_id = created["contactid"]
    assert etag_version(created["@odata.etag"]) == str(created["versionnumber"])
    fetched = await crm_client.get("contacts", contact_id, ["lastname", "versionnumber"])
    assert fetched["lastname"] == last
    updated = await crm_client.update("contacts", contact_id, {"jobtitle": "Analyst"}, created["@odata.etag"])
    assert updated["jobtitle"] == "Analyst" and updated["versionnumber"] > created["versionnumber"]
    with pytest.raises(PreconditionFailed):
        await crm_client.update("contacts", contact_id, {"jobtitle": "Stale"}, created["@odata.etag"])
    assert (await crm_client.get("contacts", contact_id))["jobtitle"] == "Analyst"
    found = await crm_client.query("contacts", select=["contactid"], filter=f"lastname eq '{last}'")
    assert [r["contactid"] for r in found] == [contact_id]
    await crm_client.delete("contacts", contact_id)
    with pytest.raises(NotFound):
        await crm_client.get("contacts", contact_id)
    with pytest.raises(NotFound):
        await crm_client.update("contacts", contact_id, {"jobtitle": "Gone"})


async def test_create_with_a_given_id_twice_is_a_duplicate(crm_client: CrmClient) -> None:
    contact_id = str(uuid.uuid4())
    await crm_client.create("contacts", {"contactid": contact_id, "lastname": "Once"})
    with pytest.raises(PreconditionFailed) as raised:
        await crm_client.create("contacts", {"contactid": contact_id, "lastname": "Twice"})
    assert raised.value.code == DUPLICATE_KEY


async def test_change_tracking_follows_pages_and_reports_deletions(crm_client: CrmClient) -> None:
    first = await crm_client.changes("contacts", "contactid", None, ["lastname"])
    assert first.rows == [] and first.deleted == [] and first.delta_link
    ids = [(await crm_client.create("contacts", {"lastname": f"N{n}"}))["contactid"] for n in range(3)]
    await crm_client.update("contacts", ids[0], {"lastname": "N0b"})
    await crm_client.delete("contacts", ids[1])
    second = await crm_client.changes("contacts", "contactid", first.delta_link)
    assert {r["contactid"]: r["lastname"] for r in second.rows} == {ids[0]: "N0b", ids[2]: "N2"}
    assert second.deleted == [ids[1]]
    third = await crm_client.changes("contacts", "contactid", second.delta_link)
    assert third.rows == [] and third.deleted == []


async def test_users_by_email_and_id(crm_client: CrmClient, crm_user: CrmUser) -> None:
    assert await crm_client.user_by_email(crm_user.email) == crm_user.id
    assert await crm_client.user_by_email("nobody-o'neil@sandbox.local") is None
    assert await crm_client.user_email(crm_user.id) == crm_user.email
    assert await crm_client.user_email(str(uuid.uuid4())) is None


async def test_caller_id_attributes_the_write_to_the_user(crm_sandbox: CrmSandboxUrls, crm_user: CrmUser) -> None:
    row = await crm_user.client.create("contacts", {"lastname": "Mine"})
    assert row["_modifiedby_value"] == crm_user.id and row["_ownerid_value"] == crm_user.id


async def test_throttling_is_retried_honouring_retry_after_then_gives_up(crm_sandbox: CrmSandboxUrls) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    set_faults(crm_sandbox, throttle_ratio=1.0, retry_after_s=2)
    client = client_for(crm_sandbox, retry=RetryPolicy(attempts=3, base_s=0.01, cap_s=30))
    client._sleep = record  # count the waits instead of spending them
    try:
        with pytest.raises(Unavailable) as raised:
            await client.query("contacts")
        assert raised.value.status == 429 and waits == [2.0, 2.0]
        set_faults(crm_sandbox, throttle_ratio=0.5, retry_after_s=0)
        client.retry = RetryPolicy(attempts=30, base_s=0.01, cap_s=0.05)
        for _ in range(5):
            assert await client.query("contacts") == []
    finally:
        set_faults(crm_sandbox)
        await client.aclose()


async def test_unavailable_and_dropped_connections_are_retried(crm_sandbox: CrmSandboxUrls) -> None:
    async with client_for(crm_sandbox, retry=RetryPolicy(attempts=3, base_s=0.01, cap_s=0.05)) as client:
        set_faults(crm_sandbox, drop_ratio=1.0)
        with pytest.raises(Unavailable) as raised:
            await client.query("contacts")
        assert raised.value.status == 0
        set_faults(crm_sandbox, unavailable_ratio=1.0, retry_after_s=0)
        with pytest.raises(Unavailable) as raised:
            await client.query("contacts")
        assert raised.value.status == 503
        set_faults(crm_sandbox, unavailable_ratio=0.4, drop_ratio=0.2, retry_after_s=0)
        client.retry = RetryPolicy(attempts=40, base_s=0.01, cap_s=0.02)
        for _ in range(5):
            await client.create("contacts", {"lastname": "Persistent"})
        set_faults(crm_sandbox)
