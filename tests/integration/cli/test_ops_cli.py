"""`fieldsync explain` and `fieldsync deadletter` through typer's CliRunner against the admin API served over real
HTTP, a real Redis (filled by the logs' own writers) and the real broker (replays are published)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from services.cli.main import app
from shared import redis_keys, topics
from shared.dead_letter_log import DeadLetter, DeadLetterLog
from shared.event_ids import decision_id, delta_id
from shared.events import DeltaApplied, FieldOutcome, Source, SyncDecision, TargetNote
from shared.explain_log import ExplainLog
from tests.integration.admin_api.serving import Tokens, admin_settings, serve

pytestmark = pytest.mark.integration

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0)  # the served API measures retention against the real clock
ALICE = "alice@sandbox.local"
CHANGE = str(uuid.uuid4())
DECISION = SyncDecision(
    event_id=decision_id(CHANGE), occurred_at=NOW - timedelta(seconds=2), captured_at=NOW - timedelta(seconds=1),
    source=Source(system="crm"), entity="contact", op="update", crm_id="c-cli", causation_id=CHANGE,
    policy_version=4, decided_at=NOW,
    outcomes=(
        FieldOutcome(field="jobtitle", target="exchange", mailbox=ALICE, synced=True),
        FieldOutcome(field="nickname", target="exchange", mailbox=ALICE, synced=False, reason="field_security",
                     detail="nickname is a secured field alice may not update"),
    ),
    notes=(TargetNote(target="exchange", mailbox=ALICE, effect="update", reason="update", detail="written"),),
)
APPLIED = DeltaApplied(
    event_id=str(uuid.uuid4()), occurred_at=DECISION.occurred_at, captured_at=DECISION.captured_at,
    source=Source(system="exchange"), entity="contact", op="update", crm_id="c-cli", mailbox=ALICE,
    exchange_id="AAMk-cli", changed={"jobtitle": "CTO"}, origin="fieldsync",
    causation_id=delta_id(CHANGE, "exchange", ALICE), target="exchange", result="applied",
    decided_at=NOW, applied_at=NOW + timedelta(milliseconds=300), written_version="ck-7",
)
LETTER = DeadLetter(
    letter_id=f"{topics.DECISIONS.full_name}:0:{uuid.uuid4().int % 10**9}", dead_lettered_at=NOW,
    service="crm_applier", reason="failed 3 times the same way: CrmError: CRM 400",
    origin_topic=topics.DECISIONS.full_name, origin_partition=0, origin_offset=1, key="contact:c-cli",
    value_b64=base64.b64encode(b'{"a": 1}').decode(),
)


@pytest.fixture
def api_url(redis_url: str, kafka_bootstrap: str, tokens: Tokens) -> Iterator[str]:
    async def record() -> None:
        redis = Redis.from_url(redis_url)
        try:
            log = ExplainLog(redis, 50, 86_400)
            await log.record_decision(DECISION)
            await log.record_applied(APPLIED)
            await redis.hset(redis_keys.link_by_crm("contact", "c-cli"), ALICE, "AAMk-cli")
            await redis.set(redis_keys.link_by_exchange(ALICE, "AAMk-cli"), "contact:c-cli")
            await DeadLetterLog(redis, 100, 86_400).record(LETTER)
        finally:
            await redis.aclose()

    asyncio.run(record())
    with serve(admin_settings(redis_url, kafka_bootstrap, tokens)) as url:
        yield url


def cli(url: str, token: str, *args: str) -> tuple[int, str]:
    done = runner.invoke(app, [*args, "--url", url, "--token", token])
    return done.exit_code, done.output


def test_explain_prints_each_fields_outcome_and_what_the_applier_wrote(api_url: str, tokens: Tokens) -> None:
    code, out = cli(api_url, tokens.viewer, "explain", "contact", "c-cli", "--mailbox", ALICE)
    assert code == 0, out
    assert f"update from CRM (a person), policy v4  [change {CHANGE}]" in out
    assert f"synced to Exchange {ALICE}: jobtitle\n" in out
    assert f"not synced to Exchange {ALICE}: nickname (field_security): nickname is a secured field" in out
    assert "applied: written jobtitle=CTO (version ck-7)" in out
    assert f"linked: {ALICE} -> AAMk-cli" in out

    code, by_item = cli(api_url, tokens.viewer, "explain", "contact", "--exchange-id", "AAMk-cli", "--mailbox", ALICE)
    assert code == 0 and CHANGE in by_item
    code, out = cli(api_url, tokens.viewer, "explain", "contact", "--exchange-id", "AAMk-cli")
    assert code == 2 and "--mailbox" in out
    code, out = cli(api_url, tokens.viewer, "explain", "contact", "c-cli", "--field", "fullname")
    assert code == 0 and "no decisions kept" in out


def test_deadletter_list_show_replay_and_discard(api_url: str, tokens: Tokens) -> None:
    code, out = cli(api_url, tokens.viewer, "deadletter", "list")
    assert code == 1 and "403" in out
    code, out = cli(api_url, tokens.admin, "deadletter", "list", "--service", "crm_applier")
    assert code == 0 and LETTER.letter_id in out and "open" in out and "showing 1-1 of 1" in out
    code, out = cli(api_url, tokens.admin, "deadletter", "show", LETTER.letter_id)
    assert code == 0 and '"a": 1' in out and "CrmError: CRM 400" in out
    code, out = cli(api_url, tokens.admin, "deadletter", "replay", "--reason", "CRM 400", "--yes")
    assert code == 0 and f"replayed {LETTER.letter_id} to {topics.DECISIONS.full_name}" in out
    code, out = cli(api_url, tokens.admin, "deadletter", "discard", LETTER.letter_id, "--reason", "done")
    assert code == 0, out
    code, out = cli(api_url, tokens.admin, "deadletter", "show", LETTER.letter_id)
    assert "replayed       " in out and f"by {tokens.admin_name}" in out and "discarded" in out and ": done" in out
    code, out = cli(api_url, tokens.admin, "deadletter", "audit")
    assert code == 0 and f"discarded  {tokens.admin_name}" in out and "showing 1-2 of 2" in out
    code, out = cli(api_url, tokens.admin, "deadletter", "replay")
    assert code == 2
