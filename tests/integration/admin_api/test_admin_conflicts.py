"""GET /api/v1/conflicts on a real Redis: the conflict log's records, filtered and paged, for viewers and admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from redis.asyncio import Redis

from shared.conflict_log import ConflictLog
from shared.events import ConflictRecord
from tests.integration.admin_api.serving import Tokens, bearer

pytestmark = pytest.mark.integration

# Recent, because the app measures the 30-day retention against the real clock.
NOW = datetime.now(UTC).replace(microsecond=0)


def conflict(n: int, entity: str = "contact", crm_id: str = "c1", mailbox: str = "alice@sandbox.local"
             ) -> ConflictRecord:
    decided = NOW - timedelta(minutes=60 - n)
    return ConflictRecord(
        conflict_id=f"k{n}", decided_at=decided, entity=entity, crm_id=crm_id, mailbox=mailbox, exchange_id=f"x{n}",
        field="telephone1", crm_value=f"+1 555 010{n}", exchange_value=None, crm_modified_at=decided,
        exchange_modified_at=decided - timedelta(seconds=1), rule="latest", winner="crm", policy_version=2,
        causation_id=f"e{n}",
    )


@pytest.fixture
async def recorded(redis_url: str) -> AsyncIterator[list[ConflictRecord]]:
    records = [
        conflict(1), conflict(2, crm_id="c2", mailbox="bob@sandbox.local"), conflict(3, mailbox="bob@sandbox.local"),
        conflict(4, entity="task", crm_id="t1"), conflict(5, entity="appointment", crm_id="a1"),
    ]
    redis = Redis.from_url(redis_url)
    try:
        await ConflictLog(redis, 1000, 30 * 86_400).record(records)
        yield records
    finally:
        await redis.aclose()


async def get(client: httpx.AsyncClient, token: str, **params: object) -> httpx.Response:
    return await client.get(f"/api/v1/conflicts?{urlencode(params)}", headers=bearer(token))


def numbers(page: httpx.Response) -> list[int]:
    return [int(c["conflict_id"][1:]) for c in page.json()["conflicts"]]


async def test_viewers_and_admins_read_the_log_newest_first(
    client: httpx.AsyncClient, tokens: Tokens, recorded: list[ConflictRecord]
) -> None:
    for token in (tokens.viewer, tokens.admin):
        page = await get(client, token)
        assert page.status_code == 200
        assert numbers(page) == [5, 4, 3, 2, 1]
        assert (page.json()["total"], page.json()["offset"], page.json()["limit"]) == (5, 0, 50)
    first = ConflictRecord.model_validate((await get(client, tokens.viewer, crm_id="c2")).json()["conflicts"][0])
    assert first == recorded[1]
    assert (await client.get("/api/v1/conflicts")).status_code == 401


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"entity": "contact"}, [3, 2, 1]),
        ({"crm_id": "c1"}, [3, 1]),
        ({"mailbox": "bob@sandbox.local"}, [3, 2]),
        ({"entity": "contact", "crm_id": "c1", "mailbox": "alice@sandbox.local"}, [1]),
        ({"entity": "fax"}, []),
        ({"since": (NOW - timedelta(minutes=57)).isoformat()}, [5, 4, 3]),
        ({"since": (NOW - timedelta(minutes=56)).replace(tzinfo=None).isoformat()}, [5, 4]),  # no offset: UTC
        ({"since": (NOW + timedelta(hours=2)).isoformat()}, []),
    ],
)
async def test_filters(
    client: httpx.AsyncClient, tokens: Tokens, recorded: list[ConflictRecord], params: dict[str, str],
    expected: list[int],
) -> None:
    page = await get(client, tokens.viewer, **params)
    assert page.status_code == 200
    assert (numbers(page), page.json()["total"]) == (expected, len(expected))


async def test_pages(client: httpx.AsyncClient, tokens: Tokens, recorded: list[ConflictRecord]) -> None:
    pages = [await get(client, tokens.viewer, offset=offset, limit=2) for offset in (0, 2, 4, 9)]
    assert [numbers(page) for page in pages] == [[5, 4], [3, 2], [1], []]
    assert {page.json()["total"] for page in pages} == {5}
    assert numbers(await get(client, tokens.viewer, entity="contact", offset=1, limit=1)) == [2]


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ("entity=lead", 404, "unknown entity 'lead'"),
        ("entity=", 422, "query.entity"),
        ("crm_id=", 422, "query.crm_id"),
        ("since=yesterday", 422, "query.since"),
        ("limit=0", 422, "query.limit"),
        ("limit=501", 422, "query.limit"),
        ("offset=-1", 422, "query.offset"),
        ("limit=abc", 422, "query.limit"),
    ],
)
async def test_bad_parameters_are_refused(
    client: httpx.AsyncClient, tokens: Tokens, query: str, status: int, detail: str
) -> None:
    response = await client.get(f"/api/v1/conflicts?{query}", headers=bearer(tokens.viewer))
    assert response.status_code == status and detail in response.json()["detail"]


async def test_an_empty_log(client: httpx.AsyncClient, tokens: Tokens) -> None:
    page = (await get(client, tokens.viewer, entity="contact")).json()
    assert (page["conflicts"], page["total"]) == ([], 0)
