"""Contacts through the whole embedded stack: CRM to the owner's mailbox with every mapped field, phone edits
both ways, no echo, a reassignment moving the contact between mailboxes, and a CRM delete that leaves the
owner's Outlook copy unlinked."""

from __future__ import annotations

from typing import Any

import pytest
from exchangelib.indexed_properties import PhoneNumber

from infra.runner.stack import Stack
from shared import topics
from tests.e2e.conftest import ALICE, BOB, Crm, Mailboxes, on_bus, settled
from tests.support import eventually

pytestmark = pytest.mark.e2e


def contact_body(tag: str) -> dict[str, object]:
    return {
        "firstname": "Ada", "lastname": f"Lovelace-{tag}", "jobtitle": "Analyst", "department": "Maths",
        "emailaddress1": f"ada.{tag}@example.com", "telephone1": "+1 206 555 0100", "mobilephone": "+1 425 555 0101",
        "address1_line1": "1 Engine Way", "address1_city": "Seattle", "address1_postalcode": "98101",
        "address1_country": "USA", "description": f"Met at the expo {tag}", "nickname": "Ada",
    }  # fmt: skip


def test_crm_contact_reaches_the_owners_mailbox_with_every_mapped_field(
    crm: Crm, mailboxes: Mailboxes, tag: str
) -> None:
    crm.create("contacts", ALICE, contact_body(tag))
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Lovelace-{tag}")
    assert (item.given_name, item.job_title, item.department, item.nickname) == ("Ada", "Analyst", "Maths", "Ada")
    phones = {p.label: p.phone_number for p in item.phone_numbers or []}
    assert phones.get("BusinessPhone") == "+1 206 555 0100" and phones.get("MobilePhone") == "+1 425 555 0101"
    assert f"ada.{tag}@example.com" in {e.email for e in item.email_addresses or []}
    assert "Met at the expo" in str(item.body)
    assert not mailboxes.find(BOB, "contacts", surname=f"Lovelace-{tag}")
    assert not item.categories  # contacts are never tracked by category


def test_phone_edits_flow_both_ways_and_settle_without_echo(crm: Crm, mailboxes: Mailboxes, tag: str) -> None:
    contact_id = crm.create("contacts", ALICE, contact_body(tag))["contactid"]
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Lovelace-{tag}")

    crm.update("contacts", contact_id, ALICE, {"telephone1": "+1 206 555 0199"})

    def business_phone() -> str | None:
        item.refresh()
        return next((p.phone_number for p in item.phone_numbers or [] if p.label == "BusinessPhone"), None)

    eventually(lambda: business_phone() == "+1 206 555 0199", timeout=20, what="CRM phone in Exchange")

    item.refresh()
    phones = [p for p in item.phone_numbers if p.label != "MobilePhone"]
    item.phone_numbers = [*phones, PhoneNumber(label="MobilePhone", phone_number="+1 425 555 0177")]
    item.save(update_fields=["phone_numbers"])
    eventually(
        lambda: (crm.get("contacts", contact_id) or {}).get("mobilephone") == "+1 425 555 0177",
        timeout=20, what="Exchange mobile phone in CRM",
    )  # fmt: skip

    # No echo: once both sides have the change, neither side gets new versions.
    version = settled(lambda: (crm.get("contacts", contact_id) or {}).get("versionnumber"))
    change_key = settled(lambda: mailboxes.find(ALICE, "contacts", surname=f"Lovelace-{tag}")[0].changekey)
    assert (crm.get("contacts", contact_id) or {}).get("versionnumber") == version
    assert mailboxes.find(ALICE, "contacts", surname=f"Lovelace-{tag}")[0].changekey == change_key


def test_reassigning_a_contact_moves_it_to_the_new_owners_mailbox(crm: Crm, mailboxes: Mailboxes, tag: str) -> None:
    contact_id = crm.create("contacts", ALICE, contact_body(tag))["contactid"]
    mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Lovelace-{tag}")

    crm.assign("contacts", contact_id, BOB)

    moved = mailboxes.one(BOB, "contacts", timeout=30, surname=f"Lovelace-{tag}")
    assert moved.given_name == "Ada" and moved.job_title == "Analyst"
    eventually(
        lambda: not mailboxes.find(ALICE, "contacts", surname=f"Lovelace-{tag}"), timeout=20, what="gone from alice"
    )


def test_a_crm_contact_delete_keeps_the_owners_outlook_copy_and_unlinks_it(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, tag: str
) -> None:
    contact_id = crm.create("contacts", ALICE, contact_body(tag))["contactid"]
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Lovelace-{tag}")

    crm.http.delete(f"contacts({contact_id})", headers={"MSCRMCallerID": crm.users[ALICE]}).raise_for_status()

    (decision,) = eventually(
        lambda: on_bus(stack, topics.DECISIONS, lambda d: d["crm_id"] == contact_id and d["op"] == "delete"),
        timeout=20, what="the delete's decision",
    )  # fmt: skip
    assert [(n["mailbox"], n["effect"], n["reason"]) for n in decision["notes"]] == [
        (ALICE, "unlink", "owner_keeps_contact")
    ]
    (unlink,) = on_bus(stack, topics.DELTAS_EXCHANGE, lambda d: d["causation_id"] == decision["causation_id"])
    assert (unlink["op"], unlink["keep_item"], unlink["exchange_id"]) == ("delete", True, item.id)
    eventually(
        lambda: on_bus(stack, topics.APPLIED, lambda a: a["causation_id"] == unlink["event_id"]),
        timeout=20, what="the unlink applied",
    )  # fmt: skip
    assert mailboxes.find(ALICE, "contacts", surname=f"Lovelace-{tag}")  # the owner keeps the contact

    item.refresh()
    item.job_title = f"Retired {tag}"
    item.save(update_fields=["job_title"])

    # The edit is captured as an unlinked item's: untracked, nothing is sent to the deleted record. (The unlink's
    # own write, the tracking category removed, may be captured too: the edit's decision is the one it caused.)
    def the_edit(c: dict[str, Any]) -> bool:
        return bool(c["exchange_id"] == item.id and c["changed"].get("jobtitle") == f"Retired {tag}")

    (change,) = eventually(lambda: on_bus(stack, topics.EXCHANGE_CHANGES, the_edit), timeout=20, what="the edit")
    (edit,) = eventually(
        lambda: on_bus(stack, topics.DECISIONS, lambda d: d["causation_id"] == change["event_id"]),
        timeout=20, what="the Outlook edit's decision",
    )  # fmt: skip
    assert edit["crm_id"] is None
    assert [(n["target"], n["effect"], n["reason"]) for n in edit["notes"]] == [("crm", None, "untracked")]
    assert not on_bus(stack, topics.DELTAS_CRM, lambda d: d["crm_id"] == contact_id)
    assert crm.get("contacts", contact_id) is None

