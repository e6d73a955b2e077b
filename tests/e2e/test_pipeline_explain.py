"""Explain and dead letters through the whole embedded stack, driven only through the sandbox protocols and the
admin API: a person's edits are explained with what the appliers wrote, by CRM id and by Exchange id; an Outlook
edit CRM refused is dead-lettered, replayed once CRM accepts writes, and a second replay changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from infra.runner.stack import Stack
from tests.e2e.conftest import ALICE, Admin, Crm, Mailboxes, settled
from tests.support import eventually

pytestmark = pytest.mark.e2e


def explain(admin: Admin, path: str, **params: str) -> dict[str, Any]:
    return admin.http.get(f"/api/v1/explain/{path}", params=params).raise_for_status().json()


def applied_values(answer: dict[str, Any], field: str) -> list[tuple[str, Any]]:
    return [
        (r["result"], r["written"].get(field))
        for change in answer["changes"] for target in change["targets"] for r in target["results"]
    ]


def test_a_persons_edit_is_explained_with_what_the_applier_wrote(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    contact_id = crm.create("contacts", ALICE, {"lastname": f"Explained-{tag}", "jobtitle": "Analyst"})["contactid"]
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Explained-{tag}")
    crm.update("contacts", contact_id, ALICE, {"jobtitle": f"Lead {tag}"})

    def written() -> dict[str, Any] | None:
        answer = explain(admin, f"contact/{contact_id}", mailbox=ALICE, field="jobtitle")
        return answer if ("applied", f"Lead {tag}") in applied_values(answer, "jobtitle") else None

    answer = eventually(written, timeout=30, what="explain shows the jobtitle written to Exchange")
    newest = answer["changes"][0]
    assert (newest["source"], newest["op"], newest["origin"]) == ("crm", "update", "user")
    assert [(f["field"], f["target"], f["synced"]) for f in newest["fields"]] == [("jobtitle", "exchange", True)]
    assert answer["links"] == {ALICE: item.id}

    by_item = explain(admin, "contact", exchange_id=item.id, mailbox=ALICE)
    assert by_item["crm_id"] == contact_id
    assert newest["change_id"] in [c["change_id"] for c in by_item["changes"]]


def test_an_outlook_edit_crm_refused_is_replayed_once_and_a_second_replay_changes_nothing(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    faults = f"{stack.settings.crm_root}/_sandbox/faults"
    contact_id = crm.create("contacts", ALICE, {"lastname": f"Refused-{tag}", "jobtitle": "Before"})["contactid"]
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Refused-{tag}")
    settled(lambda: (crm.get("contacts", contact_id) or {}).get("versionnumber"))

    httpx.put(faults, json={"refuse_writes": True}).raise_for_status()
    try:
        item.job_title = f"Outlook {tag}"
        item.save(update_fields=["job_title"])

        def letter() -> dict[str, Any] | None:
            page = admin.http.get("/api/v1/deadletters", params={"service": "crm_applier", "status": "open"})
            found = [x for x in page.raise_for_status().json()["letters"] if x["key"] == f"contact:{contact_id}"]
            return found[0] if found else None

        dead = eventually(letter, timeout=30, what="the refused update dead-lettered")
    finally:
        httpx.put(faults, json={}).raise_for_status()
    assert (crm.get("contacts", contact_id) or {})["jobtitle"] == "Before"

    admin.http.post(f"/api/v1/deadletters/{dead['letter_id']}/replay").raise_for_status()
    eventually(lambda: (crm.get("contacts", contact_id) or {}).get("jobtitle") == f"Outlook {tag}", timeout=30,
               what="the replayed update written to CRM")
    version = settled(lambda: (crm.get("contacts", contact_id) or {}).get("versionnumber"))

    admin.http.post(f"/api/v1/deadletters/{dead['letter_id']}/replay").raise_for_status()

    def duplicate_seen() -> bool:
        answer = explain(admin, f"contact/{contact_id}", mailbox=ALICE, field="jobtitle")
        return [r for r, _ in applied_values(answer, "jobtitle")].count("duplicate") == 1

    eventually(duplicate_seen, timeout=30, what="the second replay found already applied")
    assert (crm.get("contacts", contact_id) or {})["versionnumber"] == version
    answer = explain(admin, f"contact/{contact_id}", mailbox=ALICE, field="jobtitle")
    results = [r for r, _ in applied_values(answer, "jobtitle")]
    assert results.count("failed") == 1 and results.count("duplicate") == 1
    failed = [r for c in answer["changes"] for t in c["targets"] for r in t["results"] if r["result"] == "failed"]
    assert [r["dead_letter"] for r in failed] == [dead["letter_id"]]  # explain names the letter to replay
    shown = admin.http.get(f"/api/v1/deadletters/{dead['letter_id']}").raise_for_status().json()
    assert [(h["action"], h["actor"]) for h in shown["history"]] == [("replayed", "sandbox-admin")] * 2
