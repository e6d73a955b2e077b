"""Sync filters through the whole embedded stack, driven as Dynamics is driven (the Web API: userqueries, GrantAccess,
RevokeAccess) and as Outlook is used (EWS): a user filter "all active contacts" brings a colleague's contact into
alice's mailbox once it is shared with her and takes it out when the share is revoked; disabling every contact
filter of a user removes that user's contacts from the mailbox; a filter on the job title moves a contact in and
out as the field changes; with distinct_physical_and_logical_deletes on, the revoke unlinks instead of deleting;
the preview endpoint returns the records the pipeline then syncs for the same filter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.runner.stack import Stack
from tests.e2e.conftest import ALICE, BOB, Admin, Crm, Mailboxes
from tests.e2e.test_pipeline_settings import in_force, put_settings
from tests.security_rows import ALL_ACTIVE_CONTACTS, fetch
from tests.support import eventually

pytestmark = pytest.mark.e2e
FILTER_S = 60.0  # filters are read with the security tables every 10 s: a bound with room for a loaded machine
TAKES_EFFECT_S = 30.0  # the bound for a filter change to show in the mailbox, checked once below


class Filters:
    """A user's sync filters as an administrator writes them: userqueries of querytype 256 owned by the user."""

    def __init__(self, crm: Crm) -> None:
        self.crm = crm
        self.made: list[str] = []

    def create(self, owner: str, name: str, fetchxml: str, entity: str = "contact") -> str:
        body = {"name": name, "querytype": 256, "returnedtypecode": entity, "fetchxml": fetchxml,
                "ownerid@odata.bind": f"/systemusers({self.crm.users[owner]})"}  # fmt: skip
        created = self.crm.http.post("userqueries", json=body, headers={"Prefer": "return=representation"})
        query_id = str(created.raise_for_status().json()["userqueryid"])
        self.made.append(query_id)
        return query_id

    def of(self, owner: str, entity: str) -> list[dict[str, Any]]:
        where = (f"_ownerid_value eq {self.crm.users[owner]} and querytype eq 256 and returnedtypecode eq "
                 f"'{entity}'")  # fmt: skip
        return list(self.crm.http.get("userqueries", params={"$filter": where}).raise_for_status().json()["value"])

    def enable(self, query_id: str, enabled: bool) -> None:
        state = {"statecode": 0, "statuscode": 1} if enabled else {"statecode": 1, "statuscode": 2}
        self.crm.http.patch(f"userqueries({query_id})", json=state).raise_for_status()

    def remove_made(self) -> None:
        for query_id in self.made:
            self.crm.http.delete(f"userqueries({query_id})")
        self.made.clear()


@pytest.fixture
def filters(crm: Crm) -> Iterator[Filters]:
    """Every filter a test makes goes again at its end (the stack, and so alice's scope, is the module's)."""
    made = Filters(crm)
    yield made
    made.remove_made()


def share(crm: Crm, contact_id: str, user: str, action: str = "GrantAccess") -> None:
    """GrantAccess (read) to `user`, or RevokeAccess, as the System Administrator (the service principal)."""
    target = {"contactid": contact_id, "@odata.type": "Microsoft.Dynamics.CRM.contact"}
    principal = {"systemuserid": crm.users[user], "@odata.type": "Microsoft.Dynamics.CRM.systemuser"}
    body: dict[str, Any] = {"Target": target, "Revokee": principal} if action == "RevokeAccess" else {
        "Target": target, "PrincipalAccess": {"AccessMask": "ReadAccess", "Principal": principal}}  # fmt: skip
    crm.http.post(action, json=body).raise_for_status()


def present(mailboxes: Mailboxes, mailbox: str, surname: str) -> bool:
    return bool(mailboxes.find(mailbox, "contacts", surname=surname))


def explained(admin: Admin, contact_id: str, mailbox: str, note: str) -> dict[str, Any] | None:
    """The newest target note of `mailbox` for the contact with the reason `note`, from the explain API."""
    answer = admin.http.get(f"/api/v1/explain/contact/{contact_id}", params={"mailbox": mailbox}).json()
    for change in answer.get("changes", []):
        for target in change["targets"]:
            if target["mailbox"] == mailbox and target["note"] == note:
                return dict(target)
    return None


def test_a_shared_contact_enters_alices_mailbox_through_her_filter_and_leaves_when_the_share_is_revoked(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, filters: Filters, tag: str
) -> None:
    filters.create(ALICE, f"All Active Contacts {tag}", ALL_ACTIVE_CONTACTS)
    surname = f"Shared-{tag}"
    contact_id = crm.create("contacts", BOB, {"firstname": "Grace", "lastname": surname})["contactid"]
    mailboxes.one(BOB, "contacts", timeout=30, surname=surname)
    # Her filter takes it, but alice may not read bob's contact yet: explain says so, with the security sentence.
    told = eventually(lambda: explained(admin, contact_id, ALICE, "no_access"), timeout=FILTER_S,
                      what="alice told why bob's contact is not hers")  # fmt: skip
    assert "holds prvReadContact at Basic depth" in told["detail"]
    assert not present(mailboxes, ALICE, surname)

    share(crm, contact_id, ALICE)
    item = mailboxes.one(ALICE, "contacts", timeout=FILTER_S, surname=surname)
    assert item.given_name == "Grace"
    share(crm, contact_id, ALICE, "RevokeAccess")
    eventually(lambda: not present(mailboxes, ALICE, surname), timeout=FILTER_S, what="the contact out of alice's")
    assert present(mailboxes, BOB, surname)  # bob's own filter keeps it in his


@pytest.fixture
def distinct_deletes(stack: Stack, crm: Crm, admin: Admin, tag: str) -> Iterator[None]:
    """distinct_physical_and_logical_deletes on (PUT /api/v1/settings) and in force, off again afterwards."""
    in_force(stack, crm, tag, put_settings(admin, distinct_physical_and_logical_deletes=True))
    yield
    put_settings(admin, distinct_physical_and_logical_deletes=False)


def test_with_distinct_deletes_the_revoke_unlinks_the_contact_in_alices_mailbox_instead_of_deleting_it(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, filters: Filters, tag: str, distinct_deletes: None
) -> None:
    filters.create(ALICE, f"All Active Contacts {tag}", ALL_ACTIVE_CONTACTS)
    surname = f"Unlinked-{tag}"
    contact_id = crm.create("contacts", BOB, {"firstname": "Grace", "lastname": surname})["contactid"]
    share(crm, contact_id, ALICE)
    mailboxes.one(ALICE, "contacts", timeout=FILTER_S, surname=surname)

    share(crm, contact_id, ALICE, "RevokeAccess")
    told = eventually(lambda: (t := explained(admin, contact_id, ALICE, "no_access")) and t["effect"] == "unlink"
                      and t["results"] and t, timeout=FILTER_S, what="the revoke applied as an unlink")  # fmt: skip
    assert "not shared with Alice" in told["detail"]
    assert len(mailboxes.find(ALICE, "contacts", surname=surname)) == 1  # the item stays, no longer linked
    crm.update("contacts", contact_id, BOB, {"jobtitle": f"After {tag}"})  # not sent to alice's copy any more
    eventually(lambda: mailboxes.one(BOB, "contacts", surname=surname).job_title == f"After {tag}", timeout=30,
               what="bob's copy updated")  # fmt: skip
    assert mailboxes.one(ALICE, "contacts", surname=surname).job_title is None


def test_disabling_every_contact_filter_of_a_user_removes_their_contacts_from_the_mailbox(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, filters: Filters, tag: str
) -> None:
    surname = f"Unfiltered-{tag}"
    contact_id = crm.create("contacts", ALICE, {"firstname": "Ada", "lastname": surname})["contactid"]
    mailboxes.one(ALICE, "contacts", timeout=30, surname=surname)
    enabled = [row["userqueryid"] for row in filters.of(ALICE, "contact") if row["statecode"] == 0]
    assert enabled  # the default template copied when fieldsync first synced alice's mailbox, at least
    try:
        for query_id in enabled:
            filters.enable(query_id, False)
        eventually(lambda: not present(mailboxes, ALICE, surname), timeout=TAKES_EFFECT_S, what="alice's contact out")
        told = explained(admin, contact_id, ALICE, "delete")
        assert told is not None and "is disabled" in told["detail"]
    finally:
        for query_id in enabled:
            filters.enable(query_id, True)
    mailboxes.one(ALICE, "contacts", timeout=FILTER_S, surname=surname)  # and back with the filters


def test_a_filter_on_the_job_title_moves_a_contact_in_and_out_as_the_field_changes(
    crm: Crm, mailboxes: Mailboxes, filters: Filters, tag: str
) -> None:
    filters.create(ALICE, f"Buyers {tag}", fetch("contact", ("jobtitle", "eq", f"Buyer {tag}")))
    surname = f"Buyer-{tag}"
    contact_id = crm.create("contacts", BOB, {"lastname": surname, "jobtitle": "Clerk"})["contactid"]
    share(crm, contact_id, ALICE)
    mailboxes.one(BOB, "contacts", timeout=30, surname=surname)

    crm.update("contacts", contact_id, BOB, {"jobtitle": f"Buyer {tag}"})
    item = mailboxes.one(ALICE, "contacts", timeout=FILTER_S, surname=surname)
    assert item.job_title == f"Buyer {tag}"
    crm.update("contacts", contact_id, BOB, {"jobtitle": "Clerk"})
    eventually(lambda: not present(mailboxes, ALICE, surname), timeout=FILTER_S, what="the contact out of alice's")
    crm.update("contacts", contact_id, BOB, {"jobtitle": f"Buyer {tag}"})
    mailboxes.one(ALICE, "contacts", timeout=FILTER_S, surname=surname)


def test_the_preview_returns_the_records_the_pipeline_then_syncs_for_the_same_filter(
    crm: Crm, mailboxes: Mailboxes, admin: Admin, filters: Filters, tag: str
) -> None:
    title = f"Lead {tag}"
    made = {}
    for index, (owner, job, shared) in enumerate([(BOB, title, True), (BOB, title, False), (BOB, "Clerk", True),
                                                  (ALICE, title, False)]):  # fmt: skip
        surname = f"Preview{index}-{tag}"
        made[surname] = crm.create("contacts", owner, {"lastname": surname, "jobtitle": job})["contactid"]
        if shared:
            share(crm, made[surname], ALICE)
    candidate = fetch("contact", ("jobtitle", "eq", title))
    body = {"mailbox": ALICE, "entity": "contact", "fetchxml": candidate}
    preview = admin.http.post("/api/v1/filters/preview", json=body).raise_for_status().json()
    previewed = {r["id"] for r in preview["records"]}
    # bob's shared lead and alice's own lead; not bob's unshared one (alice may not read it), not the clerk
    assert previewed == {made[f"Preview0-{tag}"], made[f"Preview3-{tag}"]} and preview["total"] == 2

    filters.create(ALICE, f"Leads {tag}", candidate)
    for surname, contact_id in made.items():
        if contact_id in previewed:
            mailboxes.one(ALICE, "contacts", timeout=FILTER_S, surname=surname)
    synced = {made[s] for s in made if present(mailboxes, ALICE, s)}
    assert synced == previewed
