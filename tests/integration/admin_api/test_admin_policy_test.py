"""POST /api/v1/policy/test and GET /api/v1/policy/test/{id} through the ASGI app on a real Redis and broker.

The test process itself is the job's port (`PolicyTestJobs.launch`): here a fake of it, so the routes' contract
(admins only, the candidate checked as a preview checks it, one job at a time, 404 on an unknown id) is tested
without starting a stack; the e2e test (tests/e2e/test_policy_test.py) runs the real one.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from infra.policytest import run
from infra.policytest.report import PolicyTestReport
from tests.integration.admin_api.serving import Tokens, bearer
from tests.policy_test_fakes import Launches
from tests.support import eventually_async

pytestmark = pytest.mark.integration
TEST = "/api/v1/policy/test"
BODY = {"changes": [{"entity": "contact", "field": "description", "direction": "none"}], "rate": 3,
        "duration_s": 5, "p99_s": 1.5}  # fmt: skip


@pytest.fixture
def launches(app: FastAPI) -> Launches:
    fake = Launches()
    app.state.policy_test_jobs.launch = fake
    return fake


async def policy_now(client: httpx.AsyncClient, tokens: Tokens) -> dict[str, object]:
    return (await client.get("/api/v1/policy", headers=bearer(tokens.viewer))).json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("body", "status", "detail"), [
    ({"changes": [{"entity": "widget", "field": "x", "direction": "none"}]}, 404, "widget"),
    ({"changes": [{"entity": "contact", "field": "nosuch", "direction": "none"}]}, 404, "nosuch"),
    ({"changes": [{"entity": "contact", "field": "fullname", "direction": "none"}]}, 409, "fullname"),
    ({"rate": 0}, 422, "rate"),
    ({"duration_s": 10_000}, 422, "duration_s"),
])  # fmt: skip
async def test_a_bad_request_starts_nothing(client: httpx.AsyncClient, tokens: Tokens, launches: Launches,
                                            body: dict[str, object], status: int, detail: str) -> None:  # fmt: skip
    before = await policy_now(client, tokens)
    answer = await client.post(TEST, json=body, headers=bearer(tokens.admin))
    assert answer.status_code == status and detail in answer.json()["detail"]
    await asyncio.sleep(0)
    assert launches.calls == [] and await policy_now(client, tokens) == before


async def test_only_admins_start_a_test(client: httpx.AsyncClient, tokens: Tokens, launches: Launches) -> None:
    assert (await client.post(TEST, json=BODY, headers=bearer(tokens.viewer))).status_code == 403
    assert (await client.post(TEST, json=BODY)).status_code == 401
    await asyncio.sleep(0)
    assert launches.calls == []


async def test_a_job_runs_one_at_a_time_and_reports(client: httpx.AsyncClient, tokens: Tokens,
                                                    launches: Launches) -> None:  # fmt: skip
    current = await policy_now(client, tokens)
    answer = await client.post(TEST, json=BODY, headers=bearer(tokens.admin))
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["Location"] == f"{TEST}/{job['job_id']}"
    assert (job["state"], job["current_version"], job["rate"], job["duration_s"], job["p99_s"]) == (
        "running", current["version"], 3, 5, 1.5)

    busy = await client.post(TEST, json=BODY, headers=bearer(tokens.admin))
    assert busy.status_code == 409 and "one runs at a time" in busy.json()["detail"]

    async def progressed() -> dict[str, object] | None:
        seen = (await client.get(f"{TEST}/{job['job_id']}", headers=bearer(tokens.viewer))).json()
        return seen if seen["progress"]["share"] == 0.4 else None

    await eventually_async(progressed, timeout=5, what="the job's progress")
    [asked] = launches.calls
    assert isinstance(asked, run.PolicyTestRequest)
    assert asked.current.version == current["version"] and asked.candidate.direction("contact", "description") == "none"
    assert asked.current.direction("contact", "description") == current["directions"]["contact"]["description"]
    assert (asked.rate, asked.duration_s, asked.target_p99_s) == (3, 5, 1.5)

    launches.release.set()

    async def finished() -> dict[str, object] | None:
        seen = (await client.get(f"{TEST}/{job['job_id']}", headers=bearer(tokens.viewer))).json()
        return seen if seen["state"] == "done" else None

    done = await eventually_async(finished, timeout=5, what="the job done")
    PolicyTestReport.model_validate(done["report"])
    assert await policy_now(client, tokens) == current  # a test changes nothing here


async def test_an_unknown_job_is_404(client: httpx.AsyncClient, tokens: Tokens) -> None:
    answer = await client.get(f"{TEST}/nosuch", headers=bearer(tokens.viewer))
    assert answer.status_code == 404 and "nosuch" in answer.json()["detail"]
