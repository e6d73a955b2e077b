"""Recurring appointments in the CRM sandbox: the recurrence attributes through create, read, update and change
tracking, values of the wrong type or range refused with nothing changed, and the Activity privileges guarding it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.sandbox.crm.server import serve_crm
from infra.sandbox.crm.settings import CrmSandboxSettings
from tests.integration.sandbox.crm_admin import (
    ACCESS_DENIED,
    PRIVILEGE_DENIED,
    SALES,
    Admin,
    acting,
    entity_id,
    error_code,
)

pytestmark = pytest.mark.integration

SET = "recurringappointmentmasters"
WEEKLY = {
    "subject": "Weekly sync", "location": "Room 4", "recurrencepatterntype": 1, "interval": 1, "daysofweekmask": 2 | 8,
    "firstdayofweek": 0, "isnthmonthly": False, "isnthyearly": False, "isweekdaypattern": False,
    "patternstartdate": "2026-12-07", "patternendtype": 2, "occurrences": 10, "starttime": "2026-12-07T09:00:00Z",
    "endtime": "2026-12-07T09:30:00Z", "duration": 30, "isalldayevent": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    settings = CrmSandboxSettings(data_dir=Path(tmp_path_factory.mktemp("crm-recurrence")))
    with serve_crm(settings, port=0) as urls:
        yield Admin(urls)


@pytest.fixture(scope="module")
def api(admin: Admin) -> httpx.Client:
    return admin.http  # the application's own client, a System Administrator


def _create(api: httpx.Client, body: dict[str, Any]) -> str:
    return entity_id(api.post(SET, json=body))


def _delta(api: httpx.Client, url: str) -> tuple[list[dict[str, Any]], str]:
    body = api.get(url, headers={"Prefer": "odata.track-changes"}).json()
    return body["value"], body["@odata.deltaLink"]


def test_a_series_keeps_its_pattern_and_change_tracking_reports_a_pattern_change(api: httpx.Client) -> None:
    _, link = _delta(api, f"{SET}?$select=subject,recurrencepatterntype")
    record = _create(api, WEEKLY)
    row = api.get(f"{SET}({record})").json()
    assert {name: row[name] for name in WEEKLY} == WEEKLY
    assert (row["statecode"], row["statuscode"]) == (3, 5)  # Scheduled / Busy, like an appointment
    rows, link = _delta(api, link)
    assert [r["activityid"] for r in rows] == [record]
    monthly = {"recurrencepatterntype": 2, "isnthmonthly": True, "instance": 2, "daysofweekmask": 4}
    assert api.patch(f"{SET}({record})", json=monthly, headers={"If-Match": row["@odata.etag"]}).status_code == 204
    rows, link = _delta(api, link)
    assert [(r["activityid"], r["recurrencepatterntype"]) for r in rows] == [(record, 2)]
    assert api.delete(f"{SET}({record})").status_code == 204
    rows, _ = _delta(api, link)
    assert rows == [{"@odata.context": rows[0]["@odata.context"], "id": record, "reason": "deleted"}]


@pytest.mark.parametrize(
    ("name", "value"),
    [("recurrencepatterntype", 4), ("interval", 0), ("daysofweekmask", 128), ("instance", 6), ("monthofyear", 13),
     ("patternendtype", 0), ("occurrences", 1000), ("isnthmonthly", "yes"), ("patternstartdate", "next monday"),
     ("interval", True)],
)  # fmt: skip
def test_a_value_out_of_type_or_range_is_refused_and_nothing_changes(api: httpx.Client, name: str, value: Any) -> None:
    refused = api.post(SET, json={**WEEKLY, name: value})
    assert refused.status_code == 400 and name in refused.json()["error"]["message"]
    record = _create(api, WEEKLY)
    before = api.get(f"{SET}({record})").json()
    assert api.patch(f"{SET}({record})", json={name: value}).status_code == 400
    assert api.get(f"{SET}({record})").json() == before


def test_a_series_is_guarded_by_the_activity_privileges_as_an_appointment_is(admin: Admin) -> None:
    unit = admin.unit("Recurring")
    seller = admin.role(SALES, name="Recurring seller")
    alice, bob = admin.user("ra-alice", unit, seller), admin.user("ra-bob", unit, seller)
    idle = admin.user("ra-idle", unit)
    mine = entity_id(admin.http.post(SET, json={**WEEKLY, "ownerid@odata.bind": f"/systemusers({alice})"},
                                     headers=acting(alice)))  # fmt: skip
    assert admin.http.get(f"{SET}({mine})", headers=acting(alice)).status_code == 200
    assert error_code(admin.http.get(f"{SET}({mine})", headers=acting(bob))) == (403, ACCESS_DENIED)  # Basic depth
    assert error_code(admin.http.post(SET, json=WEEKLY, headers=acting(idle))) == (403, PRIVILEGE_DENIED)
