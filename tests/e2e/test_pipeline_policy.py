"""Field directions through the whole embedded stack, changed live through the admin API: `none` and
`to_exchange` keep Outlook edits out of CRM while other fields of the same save flow, and a change of
direction governs every decision made more than a second after the API answered."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from exchangelib.indexed_properties import PhoneNumber

from infra.runner.stack import Stack
from shared import topics
from tests.e2e.conftest import ALICE, Admin, Crm, Mailboxes
from tests.support import eventually

pytestmark = pytest.mark.e2e


def new_contact(crm: Crm, mailboxes: Mailboxes, tag: str) -> tuple[str, Any]:
    body = {"firstname": "Grace", "lastname": f"Hopper-{tag}", "description": "from CRM", "mobilephone": "+1 1"}
    contact_id = crm.create("contacts", ALICE, body)["contactid"]
    return contact_id, mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Hopper-{tag}")


def edit_in_outlook(item: Any, notes: str, mobile: str) -> None:
    item.refresh()
    item.body = notes
    phones = [p for p in item.phone_numbers or [] if p.label != "MobilePhone"]
    item.phone_numbers = [*phones, PhoneNumber(label="MobilePhone", phone_number=mobile)]
    item.save(update_fields=["body", "phone_numbers"])


def test_notes_set_to_none_stay_out_of_crm_while_the_phone_of_the_same_save_flows(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    admin.set_direction("contact", "description", "none")
    contact_id, item = new_contact(crm, mailboxes, tag)
    assert "from CRM" not in str(item.body or "")  # `none`: the create did not carry the notes either

    edit_in_outlook(item, f"private notes {tag}", "+1 425 555 0142")

    row = eventually(
        lambda: (r := crm.get("contacts", contact_id)) and r.get("mobilephone") == "+1 425 555 0142" and r,
        timeout=20, what="the phone edit in CRM",
    )  # fmt: skip
    assert row["description"] == "from CRM"


def test_to_exchange_keeps_the_outlook_edit_out_of_crm_and_a_crm_edit_overwrites_it(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    admin.set_direction("contact", "description", "to_exchange")
    contact_id, item = new_contact(crm, mailboxes, tag)
    eventually(lambda: "from CRM" in str(item.refresh().body), timeout=20, what="notes in Outlook")

    edit_in_outlook(item, f"outlook notes {tag}", "+1 425 555 0143")
    row = eventually(
        lambda: (r := crm.get("contacts", contact_id)) and r.get("mobilephone") == "+1 425 555 0143" and r,
        timeout=20, what="the phone edit in CRM",
    )  # fmt: skip
    assert row["description"] == "from CRM"

    crm.update("contacts", contact_id, ALICE, {"description": f"crm wins {tag}"})
    eventually(lambda: f"crm wins {tag}" in str(item.refresh().body), timeout=20, what="CRM notes in Outlook")


def decisions_for(stack: Stack, crm_id: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            topics.DECISIONS.full_name, bootstrap_servers=stack.urls["bootstrap_servers"],
            auto_offset_reset="earliest", fetch_max_wait_ms=10, enable_auto_commit=False,
        )  # fmt: skip
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=1000, max_records=100000)
            values = [json.loads(r.value) for records in batch.values() for r in records]
        finally:
            await consumer.stop()
        return [v for v in values if v.get("crm_id") == crm_id]

    return asyncio.run(read())


def test_a_direction_changed_through_the_admin_api_governs_decisions_within_a_second(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    admin.set_direction("contact", "jobtitle", "both")
    contact_id, _item = new_contact(crm, mailboxes, tag)
    answered = admin.set_direction("contact", "jobtitle", "to_crm")
    changed_at = time.time()
    edits = iter(range(1000))

    def late_decisions() -> list[dict[str, Any]] | None:
        crm.update("contacts", contact_id, ALICE, {"jobtitle": f"title {next(edits)}"})
        decided = decisions_for(stack, contact_id)
        late = [d for d in decided if datetime.fromisoformat(d["decided_at"]).timestamp() > changed_at + 1.0]
        return late or None

    late = eventually(late_decisions, timeout=30, interval=0.3, what="decisions made over 1 s after the change")
    for decision in late:
        assert decision["policy_version"] >= answered["version"]
        outcomes = [o for o in decision["outcomes"] if o["field"] == "jobtitle"]
        assert all(o["reason"] in ("direction", "unchanged") for o in outcomes), outcomes
