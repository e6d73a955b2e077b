"""decide() under the organisation's sync settings, each setting in both values (shared.events.OrgSettings)."""

from __future__ import annotations

from typing import Any

import pytest

from services.policy.decide import decide
from services.policy.explanation import notes_for
from services.policy.logical_delete import UNLINK_NOTE, leave, unlinks
from shared.events import OrgSettings, Policy
from tests.policy_builders import (
    ALICE,
    BOB,
    CATALOGUE,
    DONE_TASK,
    FUTURE,
    NOW,
    OPEN_TASK,
    TRACKED,
    Row,
    check_row,
    crm,
    exchange,
    linked,
    policy,
)


def under(**settings: Any) -> Policy:
    base = policy()
    return base.model_copy(update={"settings": OrgSettings(**settings)})


DISTINCT = under(distinct_physical_and_logical_deletes=True)
TASKS_KEPT = under(delete_exchange_tasks_in_crm=False)
ATTACHMENTS_ON = under(sync_appointment_attachments=True)
NO_CATEGORIES = under(track_categorized_items=False)
UNTRACKED = {"categories": ["Red"]}
FILES = [{"name": "agenda.pdf", "content_type": "application/pdf", "size": 3, "sha256": "a" * 64}]
REASSIGNED = {"owner_mailbox": BOB, "previous_owner_mailbox": ALICE}

ROWS = [
    # distinct_physical_and_logical_deletes: a logical delete deletes (off) or unlinks (on)
    Row("contact reassigned, setting off: deleted in the first owner's mailbox",
        crm("contact", "update", {"ownerid": "bob"}, **REASSIGNED), [("exchange", ALICE, "delete"),
                                                                     ("exchange", BOB, "create")],
        facts=linked(ALICE), notes={f"exchange:{ALICE}": "delete"}),
    Row("contact reassigned, setting on: unlinked in the first owner's mailbox",
        crm("contact", "update", {"ownerid": "bob"}, **REASSIGNED), [("exchange", ALICE, "unlink"),
                                                                     ("exchange", BOB, "create")],
        policy=DISTINCT, facts=linked(ALICE), notes={f"exchange:{ALICE}": UNLINK_NOTE}),
    Row("contact deactivated, setting off: deleted",
        crm("contact", "update", {"statecode": 1}, owner_mailbox=ALICE, statecode=1),
        [("exchange", ALICE, "delete")], facts=linked(ALICE)),
    Row("contact deactivated, setting on: unlinked",
        crm("contact", "update", {"statecode": 1}, owner_mailbox=ALICE, statecode=1),
        [("exchange", ALICE, "unlink")], policy=DISTINCT, facts=linked(ALICE),
        notes={f"exchange:{ALICE}": UNLINK_NOTE}),
    Row("open task reassigned, setting on: unlinked",
        crm("task", "update", {"ownerid": "bob"}, **REASSIGNED), [("exchange", ALICE, "unlink"),
                                                                  ("exchange", BOB, "create")],
        policy=DISTINCT, facts=linked(ALICE, exchange={ALICE: OPEN_TASK})),
    Row("completed task reassigned, setting on: withheld as before (kept, linked)",
        crm("task", "update", {"ownerid": "bob"}, **REASSIGNED), [("exchange", BOB, "create")],
        policy=DISTINCT, facts=linked(ALICE, exchange={ALICE: DONE_TASK}),
        notes={f"exchange:{ALICE}": "task_completed"}),
    Row("appointment reassigned, setting on: a logical delete never reaches an appointment",
        crm("appointment", "update", {"ownerid": "bob", **FUTURE}, **REASSIGNED), [("exchange", BOB, "create")],
        policy=DISTINCT, facts=linked(ALICE), notes={f"exchange:{ALICE}": "logical_delete"}),
    Row("contact deleted in CRM (physical), setting on: the delete table alone decides",
        crm("contact", "delete", owner_mailbox=BOB), [("exchange", ALICE, "delete")], policy=DISTINCT,
        facts=linked(ALICE)),
    Row("open task deleted in CRM (physical), setting on: deleted",
        crm("task", "delete"), [("exchange", ALICE, "delete")], policy=DISTINCT,
        facts=linked(ALICE, exchange={ALICE: OPEN_TASK})),
    # delete_exchange_tasks_in_crm
    *(Row(f"{e} deleted in Outlook, setting on (default): deleted in CRM", exchange(e, "delete", **TRACKED),
          [("crm", ALICE, "delete")]) for e in ("task", "phonecall", "letter", "fax")),
    *(Row(f"{e} deleted in Outlook, setting off: kept in CRM, the link dropped", exchange(e, "delete", **TRACKED),
          [("exchange", ALICE, "unlink")], policy=TASKS_KEPT,
          notes={f"crm:{ALICE}": "tasks_kept_in_crm", f"exchange:{ALICE}": "tasks_kept_in_crm"})
      for e in ("task", "phonecall", "letter", "fax")),
    Row("contact deleted in Outlook, tasks setting off: the contact rule is untouched",
        exchange("contact", "delete", owner_mailbox=ALICE), [("crm", ALICE, "delete")], policy=TASKS_KEPT),
    # sync_appointment_attachments: off, the pair is fixed at none; on, it syncs both ways (appointments only)
    Row("attachments from CRM, setting off: fixed", crm("appointment", "update", {"attachments": FILES},
                                                        owner_mailbox=ALICE), [], facts=linked(ALICE),
        reasons={"attachments": "fixed"}),
    Row("attachments from CRM, setting on: written to the mailbox",
        crm("appointment", "update", {"attachments": FILES}, owner_mailbox=ALICE), [("exchange", ALICE, "update")],
        facts=linked(ALICE), policy=ATTACHMENTS_ON, fields={f"exchange:{ALICE}": ["attachments"]}),
    Row("attachments from Outlook, setting off: fixed", exchange("appointment", "update", {"attachments": FILES},
                                                                 **TRACKED), [], reasons={"attachments": "fixed"}),
    Row("attachments from Outlook, setting on: written to CRM",
        exchange("appointment", "update", {"attachments": FILES}, **TRACKED), [("crm", ALICE, "update")],
        policy=ATTACHMENTS_ON, fields={f"crm:{ALICE}": ["attachments"]}),
    Row("attachments removed in Outlook, setting on: removed in CRM",
        exchange("appointment", "update", {"attachments": None}, **TRACKED), [("crm", ALICE, "update")],
        policy=ATTACHMENTS_ON, fields={f"crm:{ALICE}": ["attachments"]}),
    # track_categorized_items
    Row("unlinked task with the category, setting on: created in CRM",
        exchange("task", "create", {"subject": "S"}, crm_id=None, **TRACKED), [("crm", ALICE, "create")]),
    Row("unlinked task with the category, setting off: not tracked",
        exchange("task", "create", {"subject": "S"}, crm_id=None, **TRACKED), [], policy=NO_CATEGORIES,
        reasons={"subject": "untracked"}, notes={f"crm:{ALICE}": "category_tracking_off"}),
    Row("unlinked appointment with the category, setting off: not tracked",
        exchange("appointment", "create", {"subject": "S"}, crm_id=None, **TRACKED), [], policy=NO_CATEGORIES,
        notes={f"crm:{ALICE}": "category_tracking_off"}),
    Row("linked task loses the category, setting on: untracked",
        exchange("task", "update", {"subject": "S"}, **UNTRACKED), [], tracking="untrack",
        reasons={"subject": "untracked"}),
    Row("linked task loses the category, setting off: keeps syncing",
        exchange("task", "update", {"subject": "S"}, **UNTRACKED), [("crm", ALICE, "update")], policy=NO_CATEGORIES,
        fields={f"crm:{ALICE}": ["subject"]}),
    Row("untracked task gets the category back, setting on: re-tracked",
        exchange("task", "update", {"subject": "S"}, **TRACKED), [("crm", ALICE, "update")], tracking="retrack",
        facts=linked(ALICE, untracked=(ALICE,))),
    Row("untracked task gets the category back, setting off: stays untracked",
        exchange("task", "update", {"subject": "S"}, **TRACKED), [], policy=NO_CATEGORIES,
        facts=linked(ALICE, untracked=(ALICE,)), reasons={"subject": "untracked"}),
    Row("linked task deleted without the category, setting off: the delete reaches CRM",
        exchange("task", "delete", **UNTRACKED), [("crm", ALICE, "delete")], policy=NO_CATEGORIES),
    Row("linked task deleted without the category, setting on: untracked, no delete",
        exchange("task", "delete", **UNTRACKED), [], notes={f"crm:{ALICE}": "untracked"}),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table(row: Row) -> None:
    check_row(row)


@pytest.mark.parametrize("on", [False, True])
def test_one_function_decides_delete_or_unlink(on: bool) -> None:
    settings = OrgSettings(distinct_physical_and_logical_deletes=on)
    target = leave(settings, ALICE, "x1")
    assert unlinks(settings) is on
    assert (target.op, target.keep_item, target.effect) == ("delete", on, "unlink" if on else "delete")
    assert target.note == (UNLINK_NOTE if on else "delete")


def test_the_attachments_outcome_says_why_while_off() -> None:
    change = crm("appointment", "update", {"attachments": FILES}, owner_mailbox=ALICE)
    decision = decide(change, CATALOGUE.entity("appointment"), under(), linked(ALICE), NOW)
    outcome = next(o for o in decision.outcomes if o.field == "attachments")
    assert not outcome.synced and outcome.reason == "fixed"
    assert outcome.detail is not None and "sync_appointment_attachments is off" in outcome.detail


@pytest.mark.parametrize("entity", ["recurringappointmentmaster", "serviceappointment"])
def test_no_other_calendar_entity_has_attachments(entity: str) -> None:
    spec = CATALOGUE.entity(entity)
    assert spec is not None and spec.field("attachments") is None


def test_the_notes_explain_the_settings() -> None:
    change = crm("contact", "update", {"ownerid": "bob"}, **REASSIGNED)
    decision = decide(change, CATALOGUE.entity("contact"), DISTINCT, linked(ALICE), NOW)
    note = next(n for n in notes_for(decision) if n.mailbox == ALICE)
    assert note.effect == "unlink" and "distinct_physical_and_logical_deletes" in (note.detail or "")
    assert "keeps its item, without the tracking category" in (note.detail or "")
    kept = decide(exchange("task", "delete", **TRACKED), CATALOGUE.entity("task"), TASKS_KEPT, linked(ALICE), NOW)
    assert {(n.target, n.reason) for n in notes_for(kept)} == {("crm", "tasks_kept_in_crm"),
                                                                ("exchange", "tasks_kept_in_crm")}
