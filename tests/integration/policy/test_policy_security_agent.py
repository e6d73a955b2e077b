"""The policy worker's security agent on the real broker and redis-server: nothing is decided before the first
complete round of the security tables, a round is stored in Redis and decided under, and a refresh of a later
round waits for that round (here: the user's role removed, the record leaves the mailbox).

The worker has a Redis database of its own with no security in it. Its rounds are numbered from 1000 and name
users of their own (dave), so that workers of other modules reading crm.security from the start are not
disturbed: they only learn of one more user.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from infra.runner.infra import redis_process, redis_ready
from infra.runner.process import ManagedProcess
from shared import redis_keys, topics
from shared.events import SecurityChanged
from shared.kafka import encode
from tests.integration.policy.conftest import running_worker
from tests.integration.policy.test_policy_worker import crm_change, events, send
from tests.security_rows import SALES, Org, sid
from tests.support import eventually, eventually_async, free_port

pytestmark = pytest.mark.integration
DAVE = "dave@sandbox.local"
FIRST = 1000


@pytest.fixture(scope="module")
def policy_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the module's own: no security rows and no round, whatever the session's shared server's
    rotating databases hold (a long-lived fixture elsewhere can hold the same database number and write a round)."""
    root: Path = tmp_path_factory.mktemp("policy-security-redis")
    port = free_port()
    proc = redis_process(port, root / "data", root / "logs").start()
    try:
        proc.wait_ready(lambda: redis_ready(port))
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def policy_worker(
    kafka_bootstrap: str, policy_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedProcess]:
    """A worker waiting at most a second per attempt for the security it needs."""
    data_dir: Path = tmp_path_factory.mktemp("policy-security")
    # Rounds other tests left on crm.security (crm_capture's, other workers') would give it a round before its own.
    earlier = (topics.CRM_SECURITY.full_name, topics.CRM_CHANGES.full_name, topics.EXCHANGE_CHANGES.full_name)
    with running_worker(kafka_bootstrap, policy_redis_url, data_dir, "policy-security", earlier,
                        policy_security_wait_s="1") as worker:  # fmt: skip
        yield worker


def organisation() -> tuple[Org, str]:
    """dave: a Salesperson; jobtitle of contacts is secured and no profile lets him read it."""
    org = Org()
    dave = org.user("dave", None, org.role("Salesperson", SALES))
    org.secure("contact", "jobtitle")
    return org, dave


async def publish(producer: AIOKafkaProducer, found: list[SecurityChanged]) -> None:
    for event in found:
        await send(producer, topics.CRM_SECURITY, "security", encode(event))


def log_of(worker: ManagedProcess) -> str:
    return worker.log_path.read_text(errors="replace")


async def test_nothing_is_decided_before_the_first_round_then_everything_under_it(  # type: ignore[no-untyped-def]
    producer, published, policy_worker, policy_redis_url
) -> None:
    org, dave = organisation()
    crm_id = str(uuid.uuid4())
    change = crm_change(crm_id, {"telephone1": "1", "jobtitle": "Secret"}, ownerid=dave, owner_mailbox=DAVE)
    await send(producer, topics.CRM_CHANGES, f"contact:{crm_id}", encode(change))
    # The first change also waits for the worker's partitions to be assigned: slow while the other test worker
    # runs an end-to-end stack on the same two cores.
    try:
        eventually(lambda: "security round 1 is not known yet" in log_of(policy_worker), timeout=90,
                   what="the change waiting for the security tables")  # fmt: skip
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker's log ends:\n{log_of(policy_worker)[-3000:]}") from None
    assert events(published, topics.DELTAS_EXCHANGE, crm_id) == []

    await publish(producer, org.events(FIRST))

    async def delta() -> list[dict[str, Any]]:
        return events(published, topics.DELTAS_EXCHANGE, crm_id)

    (created,) = await eventually_async(delta, timeout=30, what="the delta once the round is known")
    assert (created["op"], created["mailbox"], created["changed"]) == ("create", DAVE, {"telephone1": "1"})
    (decision,) = events(published, topics.DECISIONS, crm_id)
    jobtitle = next(o for o in decision["outcomes"] if o["field"] == "jobtitle")
    assert (jobtitle["reason"], jobtitle["synced"]) == ("field_security", False)
    store = Redis.from_url(policy_redis_url)
    assert int(await store.get(redis_keys.SECURITY_ROUND) or 0) == FIRST
    stored = await store.hget(redis_keys.security_rows("systemusers"), dave)
    assert json.loads(stored or "{}")["internalemailaddress"] == DAVE
    assert not await store.exists(redis_keys.SECURITY_PENDING)

    # Round FIRST + 1 takes dave's role away; a refresh of that round waits for it and deletes the item.
    await store.hset(redis_keys.link_by_crm("contact", crm_id), DAVE, "AAMk-dave")
    await store.aclose()
    refresh = crm_change(crm_id, {"telephone1": "1", "jobtitle": "Secret"}, op="update", ownerid=dave,
                         owner_mailbox=DAVE, refresh=True, security_round=FIRST + 1)  # fmt: skip
    await send(producer, topics.CRM_CHANGES, f"contact:{crm_id}", encode(refresh))
    assignment = next(k for k in org.rows["systemuserrolescollection"])
    removed = SecurityChanged(
        event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), principal=assignment,
        table="systemuserrolescollection", deleted=True, round=FIRST + 1, last_in_round=True,
    )  # fmt: skip
    await publish(producer, [removed])

    async def deleted() -> list[dict[str, Any]] | None:
        found = [d for d in events(published, topics.DELTAS_EXCHANGE, crm_id) if d["op"] == "delete"]
        return found or None

    (delete,) = await eventually_async(deleted, timeout=30, what="the logical delete after the role went")
    assert (delete["mailbox"], delete["exchange_id"], delete["causation_id"]) == (DAVE, "AAMk-dave", refresh.event_id)
    notes = [json.loads(v)["notes"] for _k, v, _h in published.find(topics.DECISIONS, refresh.event_id)]
    assert [n["reason"] for n in notes[0]] == ["no_privilege"]
    assert sid("user:dave") == dave
