"""Decisions under security (scope.py, tracking.py, reconcile.py with security.py): every new reason, clearing,
the logical delete on access loss, the write-back of an edit the user may not make, a create without the
fields the user may not create, and acting_user on every CRM delta."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from services.policy.decide import decide
from services.policy.explanation import notes_for
from services.policy.merge import FieldState
from services.policy.plan import plan
from services.policy.reconcile import PairStates, Reconciled, reconcile
from services.policy.security import Security
from services.policy.verdict import Facts
from shared.events import FieldOutcome, ItemChanged, ItemDelta
from tests.policy_builders import ALICE, CATALOGUE, FUTURE, NOW, TRACKED, crm, every_field, exchange, linked, policy
from tests.security_rows import SALES, Org

EARLIER = NOW - timedelta(seconds=5)
PAIR = ("contact", "r1", ALICE)


def organisation() -> tuple[Security, dict[str, str]]:
    """alice: Salesperson, may read but not update jobtitle, may not read description (of contacts); idle (a
    mailbox too): no role; boss: Global read only; wes: Global write, no read, may read jobtitle; tasks:
    description secured, alice may not create it."""
    org = Org()
    seller = org.role("Salesperson", SALES)
    reader = org.role("Reader", {"prvReadContact": "Global", "prvReadActivity": "Global"})
    writer = org.role("Writer", {"prvWriteContact": "Global"})
    ids = {"alice": org.user("alice", None, seller), "idle": org.user("idle"), "boss": org.user("boss", None, reader),
           "bob": org.user("bob", None, seller), "wes": org.user("wes", None, writer)}  # fmt: skip
    for entity, attribute in (("contact", "jobtitle"), ("contact", "description"), ("task", "description")):
        org.secure(entity, attribute)
    org.profile("Alice", {("contact", "jobtitle"): (True, False, False), ("task", "description"): (True, True, False)},
                users=(ids["alice"],))  # fmt: skip
    org.profile("Wes", {("contact", "jobtitle"): (True, False, False)}, users=(ids["wes"],))
    return org.security(), ids


SECURITY, IDS = organisation()
IDLE, BOSS = "idle@sandbox.local", "boss@sandbox.local"


def run(change: ItemChanged, facts: Facts, states: PairStates | None = None) -> tuple[Reconciled, list[ItemDelta]]:
    decision = decide(change, CATALOGUE.entity(change.entity), policy(), facts, NOW, SECURITY)
    reconciled = reconcile(change, decision, states or {}, "latest")
    outgoing = plan(change, reconciled.decision, 7, NOW)
    return reconciled, [o.event for o in outgoing if isinstance(o.event, ItemDelta)]


def outcome(result: Reconciled, key: str) -> FieldOutcome:
    return next(o for o in result.decision.outcomes if o.field == key)


def notes(result: Reconciled) -> dict[str, str]:
    return {f"{n.target}:{n.mailbox}": n.reason for n in notes_for(result.decision)}


def held(value: Any, side: str = "crm") -> FieldState:
    return FieldState(value, EARLIER, side, {"crm": value, "exchange": value})  # type: ignore[arg-type]


def owned(by: str, entity: str, op: str, changed: Mapping[str, Any], **context: Any) -> ItemChanged:
    return crm(entity, op, dict(changed), ownerid=IDS[by], owner_mailbox=f"{by}@sandbox.local", statecode=0,
               **context)  # fmt: skip


# CRM to Exchange


def test_a_field_the_user_may_not_read_never_reaches_the_mailbox() -> None:
    result, [delta] = run(owned("alice", "contact", "create", every_field("contact")), Facts())
    assert (delta.op, delta.mailbox) == ("create", ALICE)
    assert "description" not in delta.changed and "jobtitle" in delta.changed and "telephone1" in delta.changed
    withheld = outcome(result, "description")
    assert (withheld.synced, withheld.reason) == (False, "field_security")
    assert withheld.detail == ("description of contact is a secured field and no field security profile of alice or "
                               "their teams allows reading it")  # fmt: skip


def test_a_record_the_user_may_not_read_is_not_sent() -> None:
    result, deltas = run(owned("idle", "contact", "create", every_field("contact")), Facts())
    assert deltas == []
    assert notes(result) == {f"exchange:{IDLE}": "no_privilege"}
    first = outcome(result, "telephone1")
    assert (first.reason, first.detail) == (
        "no_privilege", "idle holds no prvReadContact privilege through a role of theirs or of their teams"
    )


def test_access_lost_on_a_linked_record_is_a_logical_delete() -> None:
    refresh = owned("idle", "contact", "update", every_field("contact"), refresh=True, security_round=3)
    result, [delta] = run(refresh, linked(IDLE), {("contact", "r1", IDLE): {"telephone1": held("1")}})
    assert (delta.op, delta.mailbox, delta.changed, delta.keep_item) == ("delete", IDLE, {}, False)
    assert notes(result) == {f"exchange:{IDLE}": "no_privilege"}
    assert result.updates[("contact", "r1", IDLE)] is None  # the pair's state goes with the item


def test_an_appointment_keeps_its_item_when_access_is_lost_as_a_logical_delete_does() -> None:
    refresh = owned("idle", "appointment", "update", {"subject": "s", "appointment_time": FUTURE}, refresh=True)
    result, deltas = run(refresh, linked(IDLE))
    assert deltas == [] and notes(result) == {f"exchange:{IDLE}": "logical_delete"}
    assert outcome(result, "subject").reason == "no_privilege"


def test_a_field_no_longer_readable_is_cleared_and_forgotten() -> None:
    refresh = owned("alice", "contact", "update", {"description": "secret", "telephone1": "1"}, refresh=True)
    states = {PAIR: {"description": held("secret"), "telephone1": held("1")}}
    result, [delta] = run(refresh, linked(ALICE), states)
    assert (delta.op, delta.changed, delta.expected) == ("update", {"description": None}, {"description": "secret"})
    assert result.forgotten == {PAIR: frozenset({"description"})}
    assert "description" not in (result.updates[PAIR] or {})
    assert outcome(result, "description").detail.endswith("; cleared from the mailbox item")  # type: ignore[union-attr]
    assert notes(result) == {f"exchange:{ALICE}": "security_cleared"}


def test_a_hidden_field_the_mailbox_never_got_is_left_alone() -> None:
    change = owned("alice", "contact", "update", {"description": "secret"})
    result, deltas = run(change, linked(ALICE), {PAIR: {"telephone1": held("1")}})
    assert deltas == [] and result.forgotten == {}


def test_access_granted_creates_the_item() -> None:
    refresh = owned("alice", "contact", "update", every_field("contact"), refresh=True, security_round=4)
    _, [delta] = run(refresh, Facts())
    assert (delta.op, delta.mailbox) == ("create", ALICE) and "description" not in delta.changed


def test_a_field_made_readable_again_flows_as_new() -> None:
    """Forgotten when cleared: the refresh's value is not agreed, so it is written."""
    refresh = owned("alice", "contact", "update", {"jobtitle": "Chief", "telephone1": "1"}, refresh=True)
    _, [delta] = run(refresh, linked(ALICE), {PAIR: {"telephone1": held("1")}})
    assert delta.changed == {"jobtitle": "Chief"}


# Exchange to CRM


def test_an_edit_the_user_may_not_update_is_not_written_and_crm_is_written_back() -> None:
    edit = exchange("contact", "update", {"jobtitle": "Boss", "telephone1": "2"})
    facts = linked(ALICE, crm={"jobtitle": "Clerk", "telephone1": "1", "@ownerid": IDS["alice"]})
    states = {PAIR: {"jobtitle": held("Clerk"), "telephone1": held("1")}}
    result, [to_crm, back] = run(edit, facts, states)
    assert (to_crm.target, to_crm.changed, to_crm.acting_user) == ("crm", {"telephone1": "2"}, IDS["alice"])
    assert (back.target, back.mailbox, back.changed, back.expected) == (
        "exchange", ALICE, {"jobtitle": "Clerk"}, {"jobtitle": "Boss"}
    )
    assert back.acting_user is None  # only CRM deltas act as someone
    assert outcome(result, "jobtitle").reason == "field_security"
    assert notes(result)[f"exchange:{ALICE}"] == "security_writeback"
    assert result.updates[PAIR]["jobtitle"].held["exchange"] == "Clerk"  # type: ignore[index]


def test_an_edit_of_a_record_the_user_may_not_write_reaches_nothing_and_is_reverted() -> None:
    edit = exchange("contact", "update", {"telephone1": "2"}).model_copy(update={"mailbox": BOSS})
    facts = Facts(links={BOSS: "x1"}, crm_values={"telephone1": "1", "@ownerid": IDS["alice"]})
    result, [back] = run(edit, facts)
    assert (back.target, back.changed) == ("exchange", {"telephone1": "1"})
    assert outcome(result, "telephone1").reason == "no_privilege"
    assert notes(result)[f"crm:{BOSS}"] == "no_privilege"


def test_a_user_who_may_write_but_not_read_gets_no_crm_value_back() -> None:
    """wes may write bob's contact (Global write) but not read it: his edit of a secured field he may read but not
    update is not written, and nothing of CRM's is written back to his mailbox (the record is not his to read)."""
    wes = "wes@sandbox.local"
    edit = exchange("contact", "update", {"jobtitle": "Boss", "telephone1": "2"}).model_copy(update={"mailbox": wes})
    facts = Facts(links={wes: "x1"}, crm_values={"jobtitle": "Clerk", "telephone1": "1", "@ownerid": IDS["bob"]})
    result, [to_crm] = run(edit, facts)
    assert (to_crm.target, to_crm.changed, to_crm.acting_user) == ("crm", {"telephone1": "2"}, IDS["wes"])
    assert outcome(result, "jobtitle").reason == "field_security"


def test_an_edit_of_a_colleagues_record_is_no_access_and_nothing_of_it_is_shown() -> None:
    """Reassigned to bob, not yet out of alice's mailbox: she may neither write nor read it, so no write-back."""
    edit = exchange("contact", "update", {"telephone1": "2"})
    result, deltas = run(edit, linked(ALICE, crm={"telephone1": "1", "@ownerid": IDS["bob"]}))
    assert deltas == [] and outcome(result, "telephone1").reason == "no_access"


def test_a_tracked_create_leaves_out_a_field_the_user_may_not_create() -> None:
    create = exchange("task", "create", {"subject": "s", "description": "d"}, crm_id=None, **TRACKED)
    result, [delta] = run(create, Facts())
    assert (delta.target, delta.op, delta.changed, delta.acting_user) == ("crm", "create", {"subject": "s"},
                                                                          IDS["alice"])  # fmt: skip
    assert outcome(result, "description").detail.endswith("; the record is created without it")  # type: ignore[union-attr]


def test_a_delete_the_user_may_not_make_is_withheld() -> None:
    delete = exchange("task", "delete", {}).model_copy(update={"mailbox": BOSS})
    result, deltas = run(delete, Facts(links={BOSS: "x1"}, crm_values={"@ownerid": IDS["alice"]}))
    assert deltas == [] and notes(result) == {f"crm:{BOSS}": "no_privilege"}


def test_a_mailbox_of_no_crm_user_moves_nothing() -> None:
    edit = exchange("contact", "update", {"telephone1": "2"}).model_copy(update={"mailbox": "stranger@x"})
    result, deltas = run(edit, Facts(links={"stranger@x": "x1"}))
    assert deltas == []
    assert outcome(result, "telephone1").detail == "no CRM user has the mailbox address stranger@x"


def test_every_crm_delta_acts_as_the_mailbox_user() -> None:
    """A CRM change that loses a conflict to the mailbox's value is written back to CRM as alice too."""
    change = owned("alice", "contact", "update", {"telephone1": "C"}).model_copy(
        update={"previous": {"telephone1": "A"}, "occurred_at": EARLIER - timedelta(seconds=1)}
    )
    states = {PAIR: {"telephone1": FieldState("X", EARLIER, "exchange", {"crm": "X", "exchange": "X"})}}
    _, deltas = run(change, linked(ALICE), states)
    [back] = [d for d in deltas if d.target == "crm"]
    assert (back.changed, back.acting_user) == ({"telephone1": "X"}, IDS["alice"])
