"""`fieldsync conflicts` through typer's CliRunner against the admin API served over real HTTP and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from services.cli.main import app
from shared.conflict_log import ConflictLog
from shared.events import ConflictRecord
from tests.integration.admin_api.serving import Tokens, admin_settings, serve

pytestmark = pytest.mark.integration

runner = CliRunner()
# Recent, because the served API measures the 30-day retention against the real clock.
NOW = datetime.now(UTC).replace(microsecond=0)


def conflict(n: int, entity: str, crm_id: str, mailbox: str, crm_value: object, exchange_value: object,
             winner: str = "crm") -> ConflictRecord:
    decided = NOW - timedelta(minutes=10 - n)
    return ConflictRecord.model_validate({
        "conflict_id": f"k{n}", "decided_at": decided, "entity": entity, "crm_id": crm_id, "mailbox": mailbox,
        "field": "subject", "crm_value": crm_value, "exchange_value": exchange_value, "crm_modified_at": decided,
        "exchange_modified_at": decided, "rule": "latest", "winner": winner, "policy_version": 2,
        "causation_id": f"e{n}",
    })


RECORDS = [
    conflict(1, "contact", "c1", "alice@sandbox.local", "Dr", "Prof"),
    conflict(2, "task", "t1", "bob@sandbox.local", "Call back", None, winner="exchange"),
    conflict(3, "contact", "c1", "bob@sandbox.local", "Dr", "Mr"),
]


@pytest.fixture
def api_url(redis_url: str, kafka_bootstrap: str, tokens: Tokens) -> Iterator[str]:
    async def record() -> None:
        redis = Redis.from_url(redis_url)
        try:
            await ConflictLog(redis, 1000, 30 * 86_400).record(RECORDS)
        finally:
            await redis.aclose()

    asyncio.run(record())
    with serve(admin_settings(redis_url, kafka_bootstrap, tokens)) as url:
        yield url


def cli(api_url: str, token: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["conflicts", *args], env={"FIELDSYNC_API_URL": api_url, "FIELDSYNC_API_TOKEN": token})
    return result.exit_code, result.stdout, result.stderr


def rows(out: str) -> list[list[str]]:
    """The table's data rows, split on the two-space column gap."""
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in out.splitlines()[1:-1]]


def test_the_table_newest_first_for_a_viewer(api_url: str, tokens: Tokens) -> None:
    code, out, _ = cli(api_url, tokens.viewer)
    assert code == 0, out
    header = out.splitlines()[0].split()
    assert header[:2] == ["time", "(UTC)"] and header[-2:] == ["rule", "winner"]
    assert [row[1:] for row in rows(out)] == [
        ["contact", "c1", "bob@sandbox.local", "subject", "Dr", "Mr", "latest", "CRM"],
        ["task", "t1", "bob@sandbox.local", "subject", "Call back", "-", "latest", "Exchange"],
        ["contact", "c1", "alice@sandbox.local", "subject", "Dr", "Prof", "latest", "CRM"],
    ]
    assert rows(out)[0][0] == (NOW - timedelta(minutes=7)).strftime("%Y-%m-%d %H:%M:%S")
    assert out.splitlines()[-1] == "showing 1-3 of 3, newest first"


@pytest.mark.parametrize(
    ("args", "mailboxes", "footer"),
    [
        (("--entity", "contact"), ["bob", "alice"], "showing 1-2 of 2, newest first"),
        (("--crm-id", "c1", "--mailbox", "alice@sandbox.local"), ["alice"], "showing 1-1 of 1, newest first"),
        (("--mailbox", "bob@sandbox.local", "--limit", "1"), ["bob"], "showing 1-1 of 2, newest first"),
        (("--since", (NOW - timedelta(minutes=8)).isoformat()), ["bob", "bob"], "showing 1-2 of 2, newest first"),
    ],
)
def test_filters_and_limit(api_url: str, tokens: Tokens, args: tuple[str, ...], mailboxes: list[str],
                           footer: str) -> None:
    code, out, _ = cli(api_url, tokens.admin, *args)
    assert code == 0, out
    assert [row[3].split("@")[0] for row in rows(out)] == mailboxes
    assert out.splitlines()[-1] == footer


def test_nothing_matches(api_url: str, tokens: Tokens) -> None:
    code, out, _ = cli(api_url, tokens.viewer, "--entity", "fax")
    assert (code, out.strip()) == (0, "no conflicts recorded")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--entity", "lead"), 1, "error: 404 Not Found: unknown entity 'lead'"),
        (("--since", "yesterday"), 2, "not an ISO 8601 date or time"),
        (("--limit", "0"), 2, "--limit"),
    ],
)
def test_refusals(api_url: str, tokens: Tokens, args: tuple[str, ...], code: int, message: str) -> None:
    exit_code, out, err = cli(api_url, tokens.viewer, *args)
    assert exit_code == code and out == "" and message in err


def test_a_bad_token_is_refused(api_url: str) -> None:
    code, _, err = cli(api_url, "not-a-token")
    assert code == 1 and err.strip() == "error: 401 Unauthorized: invalid token"
