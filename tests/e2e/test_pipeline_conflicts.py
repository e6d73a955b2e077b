"""Both sides edit one contact before either edit is synced: the merge point decides, both sides converge.

To make the two edits truly concurrent, the two captures are stopped while a person edits the contact in CRM
(Web API) and in Outlook (EWS through exchangelib), then started again: each capture then reports an edit made
without knowing the other. CRM's modifiedon has whole seconds, so the edits are more than a second apart and
`latest` has one answer. Everything is driven and read through public interfaces: the Web API, EWS, the admin API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from infra.runner.stack import Stack
from tests.e2e.conftest import ALICE, Admin, Crm, Mailboxes, settled
from tests.support import eventually

pytestmark = pytest.mark.e2e
CAPTURES = ("crm_capture", "exchange_capture")
APART_S = 1.3  # more than CRM's one-second modifiedon resolution


@pytest.fixture
def rules(admin: Admin) -> Iterator[Callable[[str], None]]:
    def set_rule(rule: str) -> None:
        admin.set_conflict_rule("contact", rule)

    yield set_rule
    admin.set_conflict_rule("contact", "latest")


def linked_contact(crm: Crm, mailboxes: Mailboxes, tag: str) -> tuple[str, object]:
    row = crm.create("contacts", ALICE, {"firstname": "Con", "lastname": f"Flict-{tag}", "jobtitle": "Start",
                                         "nickname": "N0"})  # fmt: skip
    item = mailboxes.one(ALICE, "contacts", timeout=30, surname=f"Flict-{tag}")
    settled(lambda: (mailboxes.find(ALICE, "contacts", surname=f"Flict-{tag}")[0].changekey,
                     (crm.get("contacts", row["contactid"]) or {}).get("versionnumber")))  # fmt: skip
    item.refresh()
    return row["contactid"], item


def edit_both_while_captures_are_stopped(stack: Stack, edits: list[Callable[[], None]]) -> None:
    procs = [p for p in stack.processes if p.name in CAPTURES]
    for proc in procs:
        proc.stop()
    try:
        for i, edit in enumerate(edits):
            if i:
                time.sleep(APART_S)  # spacing two edits in source time, not waiting for an effect
            edit()
    finally:
        for proc in procs:
            proc.start()


@pytest.mark.parametrize(
    ("rule", "first", "winner"),
    [("latest", "crm", "exchange"), ("latest", "exchange", "crm"), ("crm_wins", "crm", "crm"),
     ("exchange_wins", "exchange", "exchange")],
)  # fmt: skip
def test_a_field_edited_on_both_sides_converges_to_the_rules_winner_and_is_listed(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, rules: Callable[[str], None], tag: str,
    rule: str, first: str, winner: str,
) -> None:
    rules(rule)
    crm_id, item = linked_contact(crm, mailboxes, tag)
    values = {"crm": f"CRM title {tag}", "exchange": f"Outlook title {tag}"}

    def edit_crm() -> None:
        crm.update("contacts", crm_id, ALICE, {"jobtitle": values["crm"]})

    def edit_outlook() -> None:
        item.job_title = values["exchange"]  # type: ignore[attr-defined]
        item.save(update_fields=["job_title"])  # type: ignore[attr-defined]

    edits = [edit_crm, edit_outlook] if first == "crm" else [edit_outlook, edit_crm]
    edit_both_while_captures_are_stopped(stack, edits)

    def converged() -> bool:
        item.refresh()  # type: ignore[attr-defined]
        crm_title = (crm.get("contacts", crm_id) or {}).get("jobtitle")
        return crm_title == item.job_title == values[winner]  # type: ignore[attr-defined]

    eventually(converged, timeout=45, what=f"both sides holding the {winner} value")
    page = eventually(lambda: admin.conflicts(crm_id=crm_id)["conflicts"] or None, timeout=15, what="the conflict")
    assert [(c["field"], c["rule"], c["winner"], c["mailbox"]) for c in page] == [("jobtitle", rule, winner, ALICE)]
    assert (page[0]["crm_value"], page[0]["exchange_value"]) == (values["crm"], values["exchange"])
    assert page[0]["crm_modified_at"] != page[0]["exchange_modified_at"]


def test_different_fields_edited_on_both_sides_both_survive_without_a_conflict(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, admin: Admin, tag: str
) -> None:
    crm_id, item = linked_contact(crm, mailboxes, tag)

    def edit_crm() -> None:
        crm.update("contacts", crm_id, ALICE, {"jobtitle": f"Title {tag}"})

    def edit_outlook() -> None:
        item.nickname = f"Nick {tag}"  # type: ignore[attr-defined]
        item.save(update_fields=["nickname"])  # type: ignore[attr-defined]

    edit_both_while_captures_are_stopped(stack, [edit_crm, edit_outlook])

    def merged() -> bool:
        item.refresh()  # type: ignore[attr-defined]
        row = crm.get("contacts", crm_id) or {}
        both = (row.get("jobtitle"), row.get("nickname"))
        return both == (item.job_title, item.nickname) == (f"Title {tag}", f"Nick {tag}")  # type: ignore[attr-defined]

    eventually(merged, timeout=45, what="both edits on both sides")
    assert admin.conflicts(crm_id=crm_id)["total"] == 0
