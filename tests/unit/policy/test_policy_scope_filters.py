"""Scope as the users' sync filters decide it (membership.py, scope.py): the union of a user's enabled filters for
the entity, intersected with what the user may read, for every synced user; explained when the record is out."""

from __future__ import annotations

from typing import Any

from services.policy.decide import decide
from services.policy.explanation import notes_for
from services.policy.security import Security
from services.policy.verdict import Decision, Facts, TargetDecision
from shared.events import ItemChanged, OrgSettings
from tests.policy_builders import ALICE, BOB, CATALOGUE, NOW, crm, every_field, policy
from tests.security_rows import ALL_ACTIVE_CONTACTS, MY_ACTIVE_CONTACTS, SALES, Org, fetch, sid

CONTACT = CATALOGUE.entities["contact"]
BUYERS = fetch("contact", ("jobtitle", "eq", "Buyer"))
CAROL = "carol@sandbox.local"


def org(**options: Any) -> tuple[Org, dict[str, str]]:
    """alice, bob and carol: Salespersons (Basic depth), each with the default templates."""
    made = Org()
    seller = made.role("Salesperson", SALES)
    ids = {name: made.user(name, None, seller, templates=options.get(name, True)) for name in ("alice", "bob", "carol")}
    return made, ids


def contact(owner: str, ids: dict[str, str], op: str = "update", changed: dict[str, Any] | None = None,
            **attributes: Any) -> ItemChanged:  # fmt: skip
    row = {"contactid": "r1", "_ownerid_value": ids[owner], "statecode": 0, **attributes}
    return crm("contact", op, changed if changed is not None else every_field("contact"), ownerid=ids[owner],
               owner_mailbox=f"{owner}@sandbox.local", statecode=row["statecode"], attributes=row)  # fmt: skip


def run(change: ItemChanged, security: Security, facts: Facts | None = None) -> Decision:
    return decide(change, CONTACT, policy(), facts or Facts(), NOW, security)


def target(decision: Decision, mailbox: str) -> TargetDecision:
    return next(t for t in decision.targets if t.mailbox == mailbox)


def writes(decision: Decision) -> dict[str | None, str | None]:
    return {t.mailbox: t.effect for t in decision.targets if t.op is not None}


def test_the_default_templates_keep_each_record_in_its_owners_mailbox() -> None:
    made, ids = org()
    assert writes(run(contact("bob", ids, "create"), made.security())) == {BOB: "create"}


def test_a_shared_contact_reaches_alice_through_her_all_active_contacts_filter_only_once_shared() -> None:
    made, ids = org()
    made.filter(ids["alice"], "All Active Contacts", "contact", ALL_ACTIVE_CONTACTS)
    before = run(contact("bob", ids, "create"), made.security())
    assert writes(before) == {BOB: "create"}
    made.share("r1", ids["alice"], 1)
    after = run(contact("bob", ids), made.security(), Facts(links={BOB: "xb"}))
    assert writes(after) == {ALICE: "create", BOB: "update"}
    assert target(after, ALICE).acting_user == ids["alice"]


def test_access_lost_takes_the_record_out_with_the_security_sentence() -> None:
    made, ids = org()
    made.filter(ids["alice"], "All Active Contacts", "contact", ALL_ACTIVE_CONTACTS)
    decision = run(contact("bob", ids), made.security(), Facts(links={ALICE: "xa", BOB: "xb"}))
    left = target(decision, ALICE)
    assert (left.effect, left.note) == ("delete", "no_access")
    assert left.detail and "holds prvReadContact at Basic depth" in left.detail
    assert {o.reason for o in left.outcomes if o.field == "jobtitle"} == {"no_access"}


def test_a_user_with_no_enabled_filter_gets_nothing_of_the_entity_and_explain_says_so() -> None:
    made, ids = org(alice=False)
    decision = run(contact("alice", ids, "create"), made.security())
    assert writes(decision) == {}
    note = notes_for(decision)[0]
    assert (note.mailbox, note.reason) == (ALICE, "out_of_scope")
    assert "alice has no sync filter of contact: nothing of it syncs" in note.detail


def test_disabling_every_contact_filter_of_a_user_takes_their_contacts_out() -> None:
    made, ids = org()
    made.filter(ids["alice"], "My Active Contacts", "contact", MY_ACTIVE_CONTACTS, enabled=False)
    decision = run(contact("alice", ids), made.security(), Facts(links={ALICE: "xa"}))
    assert writes(decision) == {ALICE: "delete"}
    assert "user filter 'My Active Contacts' is disabled" in str(target(decision, ALICE).detail)


def test_a_filter_on_the_job_title_moves_a_contact_in_and_out_as_the_field_changes() -> None:
    made, ids = org()
    made.filter(ids["alice"], "Buyers", "contact", BUYERS)
    made.share("r1", ids["alice"], 1)
    snapshot = {**every_field("contact"), "jobtitle": "Clerk"}
    entering = run(contact("bob", ids, changed={"jobtitle": "Buyer"}, jobtitle="Buyer"), made.security(),
                   Facts(links={BOB: "xb"}, crm_values=snapshot))  # fmt: skip
    created = target(entering, ALICE)
    assert created.op == "create"
    assert created.fields["jobtitle"] == "Buyer" and created.fields["department"] == "v-department"
    assert len(created.fields) > 20  # created whole: the fields the change lacks came from the snapshot
    leaving = run(contact("bob", ids, changed={"jobtitle": "Clerk"}, jobtitle="Clerk"), made.security(),
                  Facts(links={ALICE: "xa", BOB: "xb"}))  # fmt: skip
    assert writes(leaving) == {ALICE: "delete", BOB: "update"}
    assert "jobtitle eq Buyer does not hold: it is 'Clerk'" in str(target(leaving, ALICE).detail)


def test_filters_are_a_union_and_a_system_filter_applies_to_every_user() -> None:
    made, ids = org(alice=False, bob=False, carol=False)
    made.system_filter("Buyers everywhere", "contact", BUYERS)
    for name in ("alice", "bob", "carol"):
        made.share("r1", ids[name], 1)
    made.filter(ids["carol"], "Nobody", "contact", fetch("contact", ("jobtitle", "null", None)))
    decision = run(contact("bob", ids, "create", jobtitle="Buyer"), made.security())
    assert writes(decision) == {ALICE: "create", BOB: "create", CAROL: "create"}


def test_a_filter_that_fails_to_parse_does_not_apply_and_is_reported() -> None:
    made, ids = org(alice=False)
    made.filter(ids["alice"], "Odd", "contact", fetch("contact", ("ownerid", "under", sid("x"))))
    decision = run(contact("alice", ids, "create"), made.security())
    assert writes(decision) == {}
    detail = str(target(decision, ALICE).detail)
    assert "user filter 'Odd' is not applied:" in detail and "under" in detail


def test_a_record_reassigned_leaves_the_old_owners_mailbox_and_enters_the_new_one() -> None:
    made, ids = org()
    change = contact("alice", ids).model_copy(update={"context": {**contact("alice", ids).context,
                                                                  "previous_owner_mailbox": BOB}})  # fmt: skip
    decision = run(change, made.security(), Facts(links={BOB: "xb"}))
    assert writes(decision) == {ALICE: "create", BOB: "delete"}
    assert target(decision, BOB).note == "delete" and "does not take the record" in str(target(decision, BOB).detail)


def test_without_attributes_in_the_change_the_snapshot_and_context_decide() -> None:
    made, ids = org()
    change = crm("contact", "update", {"jobtitle": "x"}, ownerid=ids["alice"], owner_mailbox=ALICE, statecode=1)
    decision = run(change, made.security(), Facts(links={ALICE: "xa"}))
    assert writes(decision) == {ALICE: "delete"}
    bare = crm("contact", "update", {"jobtitle": "x"}, ownerid=ids["alice"], owner_mailbox=ALICE)
    facts = Facts(links={ALICE: "xa"}, crm_values={"@attributes": {"_ownerid_value": ids["alice"], "statecode": 0}})
    assert writes(run(bare, made.security(), facts)) == {ALICE: "update"}


def test_a_mailbox_whose_filter_takes_a_record_its_user_may_not_read_is_told_why() -> None:
    made, ids = org()
    made.filter(ids["alice"], "All Active Contacts", "contact", ALL_ACTIVE_CONTACTS)
    decision = run(contact("bob", ids, "create"), made.security())
    assert writes(decision) == {BOB: "create"}
    told = target(decision, ALICE)
    assert (told.op, told.note) == (None, "no_access")
    assert "alice holds prvReadContact at Basic depth; the record is owned by bob" in str(told.detail)
    assert CAROL not in {t.mailbox for t in decision.targets}  # her filters do not take it: nothing to say


def test_with_distinct_deletes_a_record_leaving_the_filters_is_unlinked_not_deleted() -> None:
    made, ids = org()
    made.filter(ids["alice"], "My Active Contacts", "contact", MY_ACTIVE_CONTACTS, enabled=False)
    unlinking = policy().model_copy(update={"settings": OrgSettings(distinct_physical_and_logical_deletes=True)})
    decision = decide(contact("alice", ids), CONTACT, unlinking, Facts(links={ALICE: "xa"}), NOW, made.security())
    left = target(decision, ALICE)
    assert (left.effect, left.note) == ("unlink", "logical_unlink")
    assert "is disabled" in str(left.detail)
