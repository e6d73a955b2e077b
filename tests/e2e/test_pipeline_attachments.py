"""Appointment attachments through the whole embedded stack, with sync_appointment_attachments on: a file added to
a CRM appointment (activitymimeattachments, as its owner) reaches the Outlook item with the same bytes, a file
attached in Outlook reaches CRM, removals flow both ways, neither side's own write comes back as a copy; with the
setting off nothing moves; a file over the size cap is dead-lettered with its size while the other files sync."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, FileAttachment
from exchangelib.errors import ErrorInvalidAttachmentId

from infra.runner.stack import Stack
from shared import topics
from shared.events import TRACKING_CATEGORY
from tests.e2e.conftest import ALICE, Admin, Crm, Mailboxes, on_bus, settled, stack_settings
from tests.e2e.test_pipeline_settings import in_force, put_settings
from tests.support import eventually

pytestmark = pytest.mark.e2e

CAP = 64 * 1024  # this module's FIELDSYNC_ATTACHMENT_MAX_BYTES: small, so a test can go over it cheaply
BINARY = bytes(range(256)) * 3  # zero bytes and every other byte value: content must survive base64 both ways


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The module's own stack, its services started with a small size cap (the children take os.environ)."""
    settings = stack_settings(tmp_path_factory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIELDSYNC_ATTACHMENT_MAX_BYTES", str(CAP))
        with Stack(settings) as running:
            yield running


@pytest.fixture
def files_on(stack: Stack, crm: Crm, admin: Admin, tag: str) -> Iterator[None]:
    in_force(stack, crm, tag, put_settings(admin, sync_appointment_attachments=True))
    yield
    put_settings(admin, sync_appointment_attachments=False)


def crm_appointment(crm: Crm, subject: str) -> str:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    row = crm.create("appointments", ALICE, {
        "subject": subject, "scheduledstart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "scheduledend": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "scheduleddurationminutes": 60,
    })  # fmt: skip
    return str(row["activityid"])


def crm_attach(crm: Crm, appointment_id: str, name: str, mimetype: str, content: bytes) -> str:
    body = {"objectid_activitypointer@odata.bind": f"/activitypointers({appointment_id})",
            "objecttypecode": "appointment", "filename": name, "mimetype": mimetype,
            "body": base64.b64encode(content).decode()}  # fmt: skip
    headers = {"MSCRMCallerID": crm.users[ALICE], "Prefer": "return=representation"}
    row = crm.http.post("activitymimeattachments", json=body, headers=headers).raise_for_status().json()
    return str(row["activitymimeattachmentid"])


def crm_files(crm: Crm, appointment_id: str) -> list[tuple[str, str, bytes]]:
    params = {"$filter": f"_objectid_value eq {appointment_id}", "$select": "filename,mimetype,body"}
    rows = crm.http.get("activitymimeattachments", params=params).raise_for_status().json()["value"]
    return sorted((r["filename"], r["mimetype"], base64.b64decode(r["body"] or "")) for r in rows)


def outlook_files(item: CalendarItem) -> list[tuple[str, str, bytes]]:
    """The item's files with their bytes. Listing and reading are two EWS calls: a file the applier removes in
    between is gone by the time its content is asked for (ErrorInvalidAttachmentId), so the item is read again."""
    item.refresh()
    try:
        return _files(item)
    except ErrorInvalidAttachmentId:
        item.refresh()
        return _files(item)


def _files(item: CalendarItem) -> list[tuple[str, str, bytes]]:
    return sorted((a.name, a.content_type, a.content) for a in item.attachments if isinstance(a, FileAttachment))


def test_with_the_setting_off_no_file_moves(crm: Crm, mailboxes: Mailboxes, stack: Stack, tag: str) -> None:
    appointment_id = crm_appointment(crm, f"Off {tag}")
    item = mailboxes.one(ALICE, "calendar", timeout=30, subject=f"Off {tag}")
    crm_attach(crm, appointment_id, "agenda.txt", "text/plain", b"agenda")
    crm.update("appointments", appointment_id, ALICE, {"location": f"Room {tag}"})  # a later change that flows

    def location() -> str | None:
        item.refresh()
        return str(item.location)

    eventually(lambda: location() == f"Room {tag}", timeout=30, what="the location synced")
    decided = eventually(lambda: [o for d in on_bus(stack, topics.DECISIONS, lambda d: d["crm_id"] == appointment_id)
                                  for o in d["outcomes"] if o["field"] == "attachments"],
                         timeout=20, what="the attachments decision")  # fmt: skip
    assert (False, "fixed") in {(o["synced"], o["reason"]) for o in decided}  # the file's change, held back
    assert not any(o["synced"] for o in decided)
    assert outlook_files(item) == []


def test_files_flow_both_ways_without_echoes(crm: Crm, mailboxes: Mailboxes, files_on: None, tag: str) -> None:
    appointment_id = crm_appointment(crm, f"Files {tag}")
    item: CalendarItem = mailboxes.one(ALICE, "calendar", timeout=30, subject=f"Files {tag}")
    crm_attach(crm, appointment_id, "agenda.txt", "text/plain", b"the agenda")
    crm_attach(crm, appointment_id, "data.bin", "application/octet-stream", BINARY)
    expected = [("agenda.txt", "text/plain", b"the agenda"), ("data.bin", "application/octet-stream", BINARY)]
    eventually(lambda: outlook_files(item) == expected, timeout=30, what="the CRM files in the Outlook item")

    item.attach(FileAttachment(name="notes.md", content_type="text/markdown", content=b"# notes"))
    expected_crm = sorted([*expected, ("notes.md", "text/markdown", b"# notes")])
    eventually(lambda: crm_files(crm, appointment_id) == expected_crm, timeout=30, what="the Outlook file in CRM")

    # Remove one file in Outlook and one in CRM: both sides end with the one left, and no copy comes back.
    item.refresh()
    next(a for a in item.attachments if a.name == "data.bin").detach()
    eventually(lambda: [f[0] for f in crm_files(crm, appointment_id)] == ["agenda.txt", "notes.md"], timeout=30,
               what="the Outlook removal in CRM")  # fmt: skip
    params = {"$filter": f"_objectid_value eq {appointment_id}", "$select": "filename"}
    rows = crm.http.get("activitymimeattachments", params=params).raise_for_status().json()["value"]
    agenda = next(r["activitymimeattachmentid"] for r in rows if r["filename"] == "agenda.txt")
    as_alice = {"MSCRMCallerID": crm.users[ALICE]}
    crm.http.delete(f"activitymimeattachments({agenda})", headers=as_alice).raise_for_status()
    eventually(lambda: [f[0] for f in outlook_files(item)] == ["notes.md"], timeout=30,
               what="the CRM removal in Outlook")  # fmt: skip
    settled(lambda: (item.refresh() or item).changekey)
    assert [f[0] for f in crm_files(crm, appointment_id)] == ["notes.md"]
    assert outlook_files(item) == [("notes.md", "text/markdown", b"# notes")]


def test_an_outlook_appointment_tracked_with_a_file_reaches_crm_with_it(
    crm: Crm, mailboxes: Mailboxes, files_on: None, tag: str
) -> None:
    account = mailboxes.account(ALICE)
    at = datetime.now(UTC) + timedelta(days=3)
    start = EWSDateTime(at.year, at.month, at.day, 14, tzinfo=EWSTimeZone("UTC"))
    item = CalendarItem(account=account, folder=account.calendar, subject=f"Tracked files {tag}", start=start,
                        end=start + timedelta(hours=1), categories=[TRACKING_CATEGORY])  # fmt: skip
    item.save()
    item.attach(FileAttachment(name="slides.pdf", content_type="application/pdf", content=b"%PDF-1.7 slides"))

    (row,) = eventually(lambda: crm.find("appointments", "subject", f"Tracked files {tag}"), timeout=30,
                        what="the tracked appointment in CRM")  # fmt: skip
    eventually(lambda: crm_files(crm, row["activityid"]) == [("slides.pdf", "application/pdf", b"%PDF-1.7 slides")],
               timeout=30, what="its file in CRM")  # fmt: skip


def test_a_file_over_the_cap_is_dead_lettered_and_the_others_sync(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, files_on: None, tag: str
) -> None:
    appointment_id = crm_appointment(crm, f"Big {tag}")
    item: CalendarItem = mailboxes.one(ALICE, "calendar", timeout=30, subject=f"Big {tag}")
    crm_attach(crm, appointment_id, "small.txt", "text/plain", b"small")
    crm_attach(crm, appointment_id, "big.bin", "application/octet-stream", b"x" * (CAP + 1))

    def letter() -> dict[str, Any] | None:
        page = admin.http.get("/api/v1/deadletters", params={"service": "exchange_applier", "status": "open"})
        found = [x for x in page.raise_for_status().json()["letters"] if appointment_id in x["key"]
                 and "big.bin" in x["reason"]]  # fmt: skip
        return found[0] if found else None

    dead = eventually(letter, timeout=30, what="the oversized file dead-lettered")
    assert "size cap" in dead["reason"] and "64.0 KiB" in dead["reason"]
    eventually(lambda: [f[0] for f in outlook_files(item)] == ["small.txt"], timeout=30, what="the small file synced")
