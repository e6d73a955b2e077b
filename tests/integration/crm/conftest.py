"""CRM-side integration fixtures: a sandbox per test over real HTTP, users, clients and topic readers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.sandbox.crm.server import CrmSandboxUrls, serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from infra.sandbox.organisation import ROLE_PRIVILEGES, SALESPERSON, assign_role, ensure_role
from services.crm_applier.main import run as run_applier
from services.crm_applier.settings import CrmApplierSettings
from shared import topics
from shared.crm.client import CrmClient, RetryPolicy
from shared.settings import SANDBOX_CRM_SECRET
from tests.integration.crm.harness import applier_settings
from tests.integration.harness import run_service, skip_to_end, stop_service

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.05, cap_s=0.5)


@pytest.fixture
def crm_sandbox(tmp_path: Path) -> Iterator[CrmSandboxUrls]:
    """A fresh sandbox CRM (its own SQLite file) on a free port, for one test."""
    with serve_crm(CrmSandboxSettings(data_dir=tmp_path), port=0) as urls:
        yield urls


def client_for(urls: CrmSandboxUrls, caller_id: str | None = None, retry: RetryPolicy = FAST_RETRY) -> CrmClient:
    return CrmClient(
        urls.api_url, urls.token_url, "fieldsync", SecretStr(SANDBOX_CRM_SECRET), retry=retry, caller_id=caller_id
    )


@pytest.fixture
async def crm_client(crm_sandbox: CrmSandboxUrls) -> AsyncIterator[CrmClient]:
    """The client acting as the application user (what fieldsync's services write as)."""
    async with client_for(crm_sandbox) as client:
        yield client


@dataclass(frozen=True)
class CrmUser:
    """A human CRM user with a mailbox, a Salesperson (a user with no role can do nothing, as in Dynamics),
    and a client whose writes are attributed to them."""

    id: str
    email: str
    client: CrmClient


@pytest.fixture
async def crm_user(crm_sandbox: CrmSandboxUrls, crm_client: CrmClient) -> AsyncIterator[CrmUser]:
    email = f"user-{uuid.uuid4().hex[:8]}@sandbox.local"
    row = await crm_client.create(
        "systemusers", {"firstname": "Test", "lastname": "User", "internalemailaddress": email, "domainname": email}
    )
    root = (await crm_client.request("GET", "WhoAmI")).json()["BusinessUnitId"]
    role = await ensure_role(crm_client, SALESPERSON, root, ROLE_PRIVILEGES[SALESPERSON])
    await assign_role(crm_client, row["systemuserid"], role)
    async with client_for(crm_sandbox, caller_id=row["systemuserid"]) as client:
        yield CrmUser(row["systemuserid"], email, client)


@pytest.fixture
async def applier(
    crm_sandbox: CrmSandboxUrls, kafka_bootstrap: str, redis_url: str
) -> AsyncIterator[CrmApplierSettings]:
    """crm_applier running (its composition root) against the test's sandbox and Redis, from the topic's end."""
    settings = applier_settings(crm_sandbox, kafka_bootstrap, redis_url)
    await skip_to_end(kafka_bootstrap, settings.crm_applier_group_id, topics.DELTAS_CRM.full_name)
    service = await run_service(run_applier, settings)
    yield settings
    await stop_service(*service)
