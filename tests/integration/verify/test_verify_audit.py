"""`fieldsync verify` end to end: the real sandboxes, redis-server and the admin API, no pipeline running."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from services.admin_api.verify_schemas import Pair
from services.cli.main import app
from tests.integration.admin_api.serving import Tokens, bearer
from tests.integration.verify.conftest import Sides
from tests.support import eventually

pytestmark = pytest.mark.integration

runner = CliRunner()


def contact(mailbox: str, **extra: Any) -> dict[str, Any]:
    return {"firstname": "Dana", "lastname": f"Verify-{mailbox[7:12]}", "jobtitle": "Buyer", "nickname": "Dee",
            "telephone1": "+1 555 0100", "description": "", "birthdate": "1990-02-03", **extra}


def task() -> dict[str, Any]:
    # A due date with a time of day: EWS keeps the date only, which is no difference.
    return {"subject": "Call back", "scheduledend": "2030-05-01T15:30:00Z", "scheduledstart": "2030-04-30T08:00:00Z",
            "percentcomplete": 0, "prioritycode": 2, "description": "about the order"}


def appointment(mailbox: str) -> dict[str, Any]:
    return {"subject": "Review", "scheduledstart": "2030-05-02T09:00:00Z", "scheduledend": "2030-05-02T10:00:00Z",
            "location": "Room 1", "organizer": mailbox, "requiredattendees": ["bob@sandbox.local"]}


def cli(api_url: str, token: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["verify", *args], env={"FIELDSYNC_API_URL": api_url, "FIELDSYNC_API_TOKEN": token})
    return result.exit_code, result.stdout, result.stderr


def verified(api_url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start a job through the API and poll it (with a deadline) until it is no longer running."""
    started = httpx.post(f"{api_url}/api/v1/verify", json=body, headers=bearer(token))
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/api/v1/verify/{started.json()['job_id']}"

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = httpx.get(f"{api_url}{started.headers['location']}", headers=bearer(token)).json()
        return job if job["state"] != "running" else None

    job = eventually(finished, timeout=30, interval=0.1, what="the verify job to finish")
    assert job["state"] == "done", job
    return job


def ids(pair: Pair) -> dict[str, str]:
    return pair.model_dump()


def test_consistent_pairs_exit_0(sides: Sides, api_url: str, tokens: Tokens) -> None:
    mailbox = sides.mailbox()
    for made in (contact(mailbox), task(), appointment(mailbox)):
        entity = "contact" if "lastname" in made else "task" if "percentcomplete" in made else "appointment"
        sides.linked(mailbox, entity, made)
    code, out, err = cli(api_url, tokens.viewer)
    assert (code, out.strip()) == (0, "consistent: 3 pairs checked (policy version 1)"), (out, err)
    assert "verify: 3 of 3 pairs checked" in err.splitlines()
    job = verified(api_url, tokens.admin)
    assert job["progress"] == {"checked": 3, "total": 3}
    report = job["report"]
    assert report["consistent"] and report["pairs_checked"] == 3 and report["differences"] == []
    assert report["missing"] == [] and report["one_way_differences"] == []


def test_a_field_changed_in_one_sandbox_is_reported_with_both_values(
    sides: Sides, api_url: str, tokens: Tokens
) -> None:
    mailbox = sides.mailbox()
    in_crm, in_exchange = (sides.linked(mailbox, "contact", contact(mailbox)) for _ in range(2))
    sides.edit_crm(in_crm, {"jobtitle": "Head of Buying"})
    sides.edit_exchange(in_exchange, {"telephone1": "+1 555 0199"})
    code, out, err = cli(api_url, tokens.viewer, "--mailbox", mailbox.upper())
    assert code == 1, (out, err)
    job_line = next(line for line in out.splitlines() if " jobtitle " in line)
    assert in_crm.crm_id in job_line and job_line.split()[-4:] == ["Head", "of", "Buying", "Buyer"]
    phone_line = next(line for line in out.splitlines() if " telephone1 " in line)
    assert in_exchange.exchange_id in phone_line
    assert phone_line.split()[-6:] == ["+1", "555", "0100", "+1", "555", "0199"]
    assert out.splitlines()[-1] == "inconsistent: 2 differences, 0 missing items in 2 pairs checked (policy version 1)"
    report = verified(api_url, tokens.viewer, {"entity": "contact", "mailbox": mailbox})["report"]
    assert not report["consistent"]
    assert sorted(report["differences"], key=lambda d: d["field"]) == [
        {**ids(in_crm), "field": "jobtitle", "crm_value": "Head of Buying", "exchange_value": "Buyer"},
        {**ids(in_exchange), "field": "telephone1", "crm_value": "+1 555 0100", "exchange_value": "+1 555 0199"},
    ]


def test_a_link_whose_exchange_item_was_deleted_is_missing_on_exchange(
    sides: Sides, api_url: str, tokens: Tokens
) -> None:
    mailbox = sides.mailbox()
    kept, gone = sides.linked(mailbox, "task", task()), sides.linked(mailbox, "task", task())
    sides.delete_exchange(gone)
    code, out, _ = cli(api_url, tokens.viewer, "--entity", "task", "--mailbox", mailbox)
    assert code == 1
    assert "missing (1): linked items that no longer exist on one side" in out
    assert kept.crm_id not in out and gone.exchange_id in out
    report = verified(api_url, tokens.viewer, {"mailbox": mailbox})["report"]
    assert report["missing"] == [{**ids(gone), "missing_on": "exchange"}]
    assert report["differences"] == [] and report["pairs_checked"] == 2 and not report["consistent"]


def test_a_one_way_field_edited_on_the_other_side_is_informational(
    sides: Sides, api_url: str, tokens: Tokens
) -> None:
    mailbox = sides.mailbox()
    pair = sides.linked(mailbox, "contact", contact(mailbox))
    direction = httpx.put(f"{api_url}/api/v1/entities/contact/fields/nickname/direction",
                          json={"direction": "to_exchange"}, headers=bearer(tokens.admin))
    assert direction.status_code == 200, direction.text
    sides.edit_exchange(pair, {"nickname": "D."})
    code, out, err = cli(api_url, tokens.viewer, "--mailbox", mailbox)
    assert code == 0, (out, err)
    assert "one-way fields edited on the non-source side (1, informational" in out
    assert out.splitlines()[-1] == "consistent: 1 pair checked (policy version 2)"
    report = verified(api_url, tokens.viewer, {"mailbox": mailbox})["report"]
    assert report["consistent"] and report["differences"] == [] and report["policy_version"] == 2
    (one_way,) = report["one_way_differences"]
    assert {k: one_way[k] for k in ("field", "direction", "crm_value", "exchange_value")} == {
        "field": "nickname", "direction": "to_exchange", "crm_value": "Dee", "exchange_value": "D."}
    code, out, _ = cli(api_url, tokens.viewer, "--mailbox", mailbox, "--json")
    assert code == 0 and '"one_way_differences"' in out


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        ({"entity": "lead"}, "viewer", 404),
        ({"entity": "contact", "colour": "red"}, "viewer", 422),
        ({"mailbox": 3}, "viewer", 422),
        ({"mailbox": ""}, "admin", 422),
        ({}, None, 401),
        ({"entity": "fax"}, "viewer", 202),  # known, nothing of it is linked (no capture follows it yet)
    ],
)
def test_start_refusals(api_url: str, tokens: Tokens, body: dict[str, Any], token: str | None, status: int) -> None:
    headers = bearer({"viewer": tokens.viewer, "admin": tokens.admin}[token]) if token else {}
    response = httpx.post(f"{api_url}/api/v1/verify", json=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert isinstance(response.json().get("detail", ""), str)


def test_unknown_job_is_404_and_errors_exit_2(api_url: str, tokens: Tokens) -> None:
    response = httpx.get(f"{api_url}/api/v1/verify/nope", headers=bearer(tokens.viewer))
    assert response.status_code == 404 and "no verify job 'nope'" in response.json()["detail"]
    code, out, err = cli(api_url, tokens.viewer, "--entity", "lead")
    assert (code, out) == (2, "") and err.startswith("error: 404 Not Found: unknown entity 'lead'")
    assert err.count("\n") == 1
    code, _, err = cli("http://127.0.0.1:9", tokens.viewer)
    assert code == 2 and err.startswith("error: cannot reach the admin API at http://127.0.0.1:9")


def test_a_side_that_cannot_be_read_fails_the_job_with_its_reason(
    sides: Sides, api_url: str, tokens: Tokens
) -> None:
    mailbox = sides.mailbox()
    sides.linked(mailbox, "contact", contact(mailbox))
    faults = sides.crm_urls.faults_url
    assert httpx.put(faults, json={"unavailable_ratio": 1.0}).status_code == 200
    try:
        code, out, err = cli(api_url, tokens.viewer, "--mailbox", mailbox)
    finally:
        httpx.put(faults, json={"unavailable_ratio": 0.0})
    assert (code, out) == (2, "")
    assert err.splitlines()[-1].startswith("error: verify job ") and "failed: Unavailable: CRM 503" in err
