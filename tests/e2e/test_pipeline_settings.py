"""The organisation's sync settings through the whole embedded stack: `PUT /api/v1/settings`, then the change of
behaviour in the sandbox. With distinct_physical_and_logical_deletes on, a contact and a task reassigned to bob stay
in alice's mailbox unlinked (the task without its tracking category) instead of being deleted there; with
delete_exchange_tasks_in_crm off, a task deleted in Outlook stays in CRM (on again, the next one is deleted); with
track_categorized_items off, an Outlook task carrying the tracking category stays out of CRM."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from exchangelib import Task

from infra.runner.stack import Stack
from shared import topics
from shared.events import TRACKING_CATEGORY
from tests.e2e.conftest import ALICE, BOB, Admin, Crm, Mailboxes, on_bus
from tests.support import eventually

pytestmark = pytest.mark.e2e


def put_settings(admin: Admin, **settings: bool) -> int:
    response = admin.http.put("/api/v1/settings", json=settings)
    assert response.status_code == 200, response.text
    assert response.json()["published"] is response.json()["changed"]  # published whenever it made a version
    return int(response.json()["version"])


def in_force(stack: Stack, crm: Crm, tag: str, version: int) -> None:
    """Wait until the policy service decides under `version`: edit a probe contact until a decision says so."""
    probe = crm.create("contacts", ALICE, {"firstname": "Probe", "lastname": f"Probe-{tag}-{version}"})["contactid"]
    edits = iter(range(1000))

    def decided() -> list[dict[str, Any]] | None:
        crm.update("contacts", probe, ALICE, {"jobtitle": f"probe {next(edits)}"})
        found = on_bus(stack, topics.DECISIONS, lambda d: d["crm_id"] == probe and d["policy_version"] >= version)
        return found or None

    eventually(decided, timeout=30, interval=0.5, what=f"decisions under policy version {version}")


@pytest.fixture
def restore(admin: Admin) -> Iterator[None]:
    """Every test leaves the settings at their defaults for the next one."""
    yield
    put_settings(admin, distinct_physical_and_logical_deletes=False, delete_exchange_tasks_in_crm=True,
                 track_categorized_items=True)  # fmt: skip


def notes_of(stack: Stack, crm_id: str, op: str) -> list[tuple[str, str | None, str]]:
    found = on_bus(stack, topics.DECISIONS, lambda d: d["crm_id"] == crm_id and d["op"] == op)
    return [(n["target"], n["effect"], n["reason"]) for d in found for n in d["notes"]]


def test_with_distinct_deletes_a_reassigned_contact_and_task_stay_unlinked_in_the_first_mailbox(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str, restore: None
) -> None:
    contact_id = crm.create("contacts", ALICE, {"firstname": "Kept", "lastname": f"Kept-{tag}"})["contactid"]
    task_id = crm.create("tasks", ALICE, {"subject": f"Kept task {tag}", "percentcomplete": 0})["activityid"]
    mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Kept-{tag}")
    task: Task = mailboxes.one(ALICE, "tasks", timeout=30, subject=f"Kept task {tag}")
    assert task.categories == [TRACKING_CATEGORY]
    in_force(stack, crm, tag, put_settings(admin, distinct_physical_and_logical_deletes=True))

    crm.assign("contacts", contact_id, BOB)
    crm.assign("tasks", task_id, BOB)

    mailboxes.one(BOB, "contacts", timeout=30, surname=f"Kept-{tag}")
    mailboxes.one(BOB, "tasks", timeout=30, subject=f"Kept task {tag}")
    for record in (contact_id, task_id):
        eventually(lambda r=record: ("exchange", "unlink", "logical_unlink") in notes_of(stack, r, "update"),
                   timeout=20, what="the logical delete decided as an unlink")  # fmt: skip

    def untagged() -> bool:
        task.refresh()
        return TRACKING_CATEGORY not in (task.categories or [])

    eventually(untagged, timeout=20, what="the tracking category taken off alice's task")
    assert len(mailboxes.find(ALICE, "contacts", surname=f"Kept-{tag}")) == 1  # alice keeps her copy
    assert len(mailboxes.find(ALICE, "tasks", subject=f"Kept task {tag}")) == 1
    # Unlinked: an edit of alice's copy is no longer sent to the record (bob's copy is the linked one now).
    task.percent_complete = Decimal(50)
    task.save(update_fields=["percent_complete"])
    eventually(lambda: on_bus(stack, topics.DECISIONS, lambda d: d["exchange_id"] == task.id
                              and d["source"]["system"] == "exchange" and d["crm_id"] is None),
               timeout=20, what="alice's edit decided as an unlinked item's")  # fmt: skip
    assert (crm.get("tasks", task_id) or {}).get("percentcomplete") == 0


def test_with_tasks_kept_an_outlook_task_delete_leaves_the_crm_task(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str, restore: None
) -> None:
    kept_id = crm.create("tasks", ALICE, {"subject": f"Keep me {tag}"})["activityid"]
    gone_id = crm.create("tasks", ALICE, {"subject": f"Delete me {tag}"})["activityid"]
    kept: Task = mailboxes.one(ALICE, "tasks", timeout=30, subject=f"Keep me {tag}")
    gone: Task = mailboxes.one(ALICE, "tasks", timeout=30, subject=f"Delete me {tag}")
    in_force(stack, crm, tag, put_settings(admin, delete_exchange_tasks_in_crm=False))

    kept.delete()  # in Outlook, through EWS

    eventually(lambda: ("crm", None, "tasks_kept_in_crm") in notes_of(stack, kept_id, "delete"),
               timeout=30, what="the Outlook delete decided as kept")  # fmt: skip
    assert ("exchange", "unlink", "tasks_kept_in_crm") in notes_of(stack, kept_id, "delete")  # the link goes
    eventually(lambda: on_bus(stack, topics.APPLIED, lambda a: a["crm_id"] == kept_id and a["op"] == "delete"
                              and a["target"] == "exchange"), timeout=20, what="the unlink applied")  # fmt: skip
    assert crm.get("tasks", kept_id) is not None

    in_force(stack, crm, tag, put_settings(admin, delete_exchange_tasks_in_crm=True))
    gone.delete()
    eventually(lambda: crm.get("tasks", gone_id) is None, timeout=30, what="the CRM task deleted (setting on)")
    assert crm.get("tasks", kept_id) is not None


def test_without_category_tracking_an_outlook_task_with_the_category_stays_out_of_crm(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str, restore: None
) -> None:
    in_force(stack, crm, tag, put_settings(admin, track_categorized_items=False))
    account = mailboxes.account(ALICE)
    untracked = Task(folder=account.tasks, account=account, subject=f"Not tracked {tag}",
                     categories=[TRACKING_CATEGORY])  # fmt: skip
    untracked.save()

    (decision,) = eventually(lambda: on_bus(stack, topics.DECISIONS, lambda d: d["exchange_id"] == untracked.id),
                             timeout=30, what="the Outlook task's decision")  # fmt: skip
    assert [(n["target"], n["effect"], n["reason"]) for n in decision["notes"]] == [
        ("crm", None, "category_tracking_off")
    ]
    assert crm.find("tasks", "subject", f"Not tracked {tag}") == []

    in_force(stack, crm, tag, put_settings(admin, track_categorized_items=True))
    tracked = Task(folder=account.tasks, account=account, subject=f"Tracked {tag}", categories=[TRACKING_CATEGORY])
    tracked.save()
    eventually(lambda: crm.find("tasks", "subject", f"Tracked {tag}"), timeout=30, what="tracked in CRM (on)")
    assert crm.find("tasks", "subject", f"Not tracked {tag}") == []  # turning it on does not track older items
