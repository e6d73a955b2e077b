"""Pipeline e2e fixtures: an embedded Stack (free ports, a temp data dir) and drivers that use only public
interfaces: the sandbox Web API over httpx, EWS through exchangelib, the admin API over httpx.

A module gets a stack of its own, unless it is one of shared_stack.MODULES: those run one after another on one
worker and take turns on one stack, which each gives back with the documented default policy in force."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016

from infra.runner.settings import free_metrics_ports
from infra.runner.stack import Stack, StackSettings
from shared import topics
from shared.settings import SANDBOX_ADMIN_TOKEN
from tests.e2e.shared_stack import MODULES, SHARED
from tests.support import eventually, free_port

ALICE, BOB, ADMIN = "alice@sandbox.local", "bob@sandbox.local", "admin@sandbox.local"
SETTLE_S = 3.0  # no further versions or ChangeKeys for this long = the pipeline settled


class Crm:
    """The sandbox Dynamics Web API as a person uses it: every write impersonates a user (MSCRMCallerID), who acts
    under the security the seed gave them (alice and bob are Salespersons in Sales East)."""

    def __init__(self, stack: Stack) -> None:
        s = stack.settings
        self.base = stack.urls["crm_api"]
        token = httpx.post(
            stack.urls["crm_token"],
            data={"grant_type": "client_credentials", "client_id": s.crm_client_id,
                  "client_secret": s.crm_client_secret.get_secret_value()},
        ).raise_for_status().json()["access_token"]  # fmt: skip
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        users = self.http.get("systemusers", params={"$select": "systemuserid,internalemailaddress"})
        self.users = {u["internalemailaddress"]: u["systemuserid"] for u in users.raise_for_status().json()["value"]}

    def create(self, entity_set: str, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "ownerid@odata.bind": f"/systemusers({self.users[owner]})"}
        headers = {"MSCRMCallerID": self.users[owner], "Prefer": "return=representation"}
        return self.http.post(entity_set, json=body, headers=headers).raise_for_status().json()

    def update(self, entity_set: str, record_id: str, as_user: str, body: dict[str, Any]) -> None:
        headers = {"MSCRMCallerID": self.users[as_user], "If-Match": "*"}
        self.http.patch(f"{entity_set}({record_id})", json=body, headers=headers).raise_for_status()

    def assign(self, entity_set: str, record_id: str, new_owner: str) -> None:
        """Reassign as the seeded System Administrator: Salespersons hold no Assign privilege, and the new owner
        could not even write a record that is not theirs yet (Basic depth)."""
        body = {"ownerid@odata.bind": f"/systemusers({self.users[new_owner]})"}
        self.update(entity_set, record_id, ADMIN, body)

    def get(self, entity_set: str, record_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"{entity_set}({record_id})")
        return None if response.status_code == 404 else response.raise_for_status().json()

    def find(self, entity_set: str, attribute: str, value: str) -> list[dict[str, Any]]:
        rows = self.http.get(entity_set).raise_for_status().json()["value"]
        return [row for row in rows if row.get(attribute) == value]


class Mailboxes:
    """EWS through exchangelib with the service account's impersonation, one Account per mailbox."""

    def __init__(self, stack: Stack) -> None:
        s = stack.settings
        credentials = Credentials(s.ews_username, s.ews_password.get_secret_value())
        self.config = Configuration(
            service_endpoint=stack.urls["ews"], credentials=credentials, auth_type=BASIC,
            version=Version(build=EXCHANGE_2016),
        )  # fmt: skip
        self.accounts: dict[str, Account] = {}

    def account(self, mailbox: str) -> Account:
        if mailbox not in self.accounts:
            self.accounts[mailbox] = Account(
                primary_smtp_address=mailbox, config=self.config, autodiscover=False, access_type=IMPERSONATION
            )
        return self.accounts[mailbox]

    def find(self, mailbox: str, folder: str, **filters: Any) -> list[Any]:
        return list(getattr(self.account(mailbox), folder).filter(**filters))

    def one(self, mailbox: str, folder: str, timeout: float = 20.0, **filters: Any) -> Any:
        found = eventually(
            lambda: self.find(mailbox, folder, **filters), timeout=timeout, what=f"{folder} in {mailbox}"
        )
        assert len(found) == 1, found
        return found[0]


class Admin:
    def __init__(self, stack: Stack) -> None:
        headers = {"Authorization": f"Bearer {SANDBOX_ADMIN_TOKEN}"}
        self.http = httpx.Client(base_url=stack.urls["admin_api"], headers=headers, timeout=10)

    def set_direction(self, entity: str, field: str, direction: str) -> dict[str, Any]:
        response = self.http.put(f"/api/v1/entities/{entity}/fields/{field}/direction", json={"direction": direction})
        return response.raise_for_status().json()

    def set_conflict_rule(self, entity: str, rule: str) -> dict[str, Any]:
        response = self.http.put(f"/api/v1/entities/{entity}/conflict-rule", json={"rule": rule})
        return response.raise_for_status().json()

    def conflicts(self, **params: str) -> dict[str, Any]:
        return self.http.get("/api/v1/conflicts", params=params).raise_for_status().json()


# Tansu holds an idle fetch for the whole wait, so an idle stack's consumers and broker keep polling: measured on
# two cores, an idle stack used 62% of a core at the default 50 ms and 32% at 250 ms. Tests wait on effects with
# deadlines, not on latency (bench/ measures that at the default), so their stacks take the longer wait and leave
# the CPU to the tests beside them; a hop waits at most 200 ms more.
FETCH_MAX_WAIT_MS = 250


def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> StackSettings:
    """A module's own embedded stack: a temp data folder and free ports."""
    return StackSettings(
        data_dir=tmp_path_factory.mktemp("stack"), broker_port=free_port(), redis_port=free_port(),
        crm_sandbox_port=free_port(), exchange_sandbox_port=free_port(), admin_api_port=free_port(),
        policy_web_port=free_port(), topic_partitions=3, fetch_max_wait_ms=FETCH_MAX_WAIT_MS, **free_metrics_ports(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if request.node.nodeid not in MODULES:
        with Stack(stack_settings(tmp_path_factory)) as running:
            yield running
        return
    running = SHARED.get(lambda: stack_settings(tmp_path_factory))
    yield running
    default_policy_in_force(running)


def default_policy_in_force(stack: Stack) -> None:
    """Reset the policy to the documented defaults (a no-op when nothing differs) and return once the policy
    service decides under it: a probe contact is edited until a decision on it carries that version."""
    admin = Admin(stack)
    update = admin.http.post("/api/v1/policy/reset").raise_for_status().json()
    if not update["changed"]:
        return
    version, crm = update["policy"]["version"], Crm(stack)
    probe = crm.create("contacts", ALICE, {"lastname": f"Probe-{uuid.uuid4().hex[:8]}"})["contactid"]
    edits = iter(range(10_000))

    def decided_under_it() -> list[dict[str, Any]]:
        crm.update("contacts", probe, ALICE, {"jobtitle": f"probe {next(edits)}"})
        return on_bus(stack, topics.DECISIONS, lambda d: d["crm_id"] == probe and d["policy_version"] >= version)

    eventually(decided_under_it, timeout=30, what=f"a decision under the reset policy (version {version})")


@pytest.fixture(scope="module")
def crm(stack: Stack) -> Crm:
    return Crm(stack)


@pytest.fixture(scope="module")
def mailboxes(stack: Stack) -> Mailboxes:
    return Mailboxes(stack)


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Admin:
    return Admin(stack)


@pytest.fixture
def tag() -> str:
    """A unique marker for the records one test creates."""
    return uuid.uuid4().hex[:8]


def settled(read: Any, quiet_s: float = SETTLE_S, timeout: float = 30.0) -> Any:
    """Poll `read` (a version: versionnumber, ChangeKey) until it stays the same for `quiet_s`; return it."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = read()
        if current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return last
    raise AssertionError(f"still changing after {timeout}s (last version {last!r})")


def on_bus(stack: Stack, topic: topics.Topic, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Every event on `topic` so far that `wanted` accepts (the decision log, the deltas, DeltaApplied are public)."""

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            topic.full_name, bootstrap_servers=stack.urls["bootstrap_servers"],
            auto_offset_reset="earliest", fetch_max_wait_ms=10, enable_auto_commit=False,
        )  # fmt: skip
        await consumer.start()
        values: list[dict[str, Any]] = []
        try:
            while batch := await consumer.getmany(timeout_ms=500, max_records=100000):
                values += [json.loads(r.value) for records in batch.values() for r in records]
        finally:
            await consumer.stop()
        return [v for v in values if wanted(v)]

    return asyncio.run(read())
