"""The organisation's sync filters from userqueries and savedqueries rows (shared.filter_set): which rows are
filters, whose they are, which apply, the union per user and entity, refusals reported, and the sentences."""

from __future__ import annotations

from shared.fetch_match import Identity
from shared.filter_set import filter_of, filter_set, identities, is_filter_row, match, takes
from tests.security_rows import MY_ACTIVE_CONTACTS, fetch

ALICE, BOB, TEAM = "a1", "b2", "t3"
ME = Identity(ALICE, frozenset({TEAM}), "u1")


def user_row(name: str, owner: str, fetchxml: str, entity: str = "contact", **extra: object) -> dict[str, object]:
    return {"userqueryid": f"UQ-{name}", "name": name, "querytype": 256, "returnedtypecode": entity,
            "fetchxml": fetchxml, "statecode": 0, "_ownerid_value": owner, **extra}  # fmt: skip


def system_row(name: str, fetchxml: str, **extra: object) -> dict[str, object]:
    return {"savedqueryid": f"SQ-{name}", "name": name, "querytype": 256, "returnedtypecode": "contact",
            "fetchxml": fetchxml, "statecode": 0, **extra}  # fmt: skip


def test_only_outlook_filters_of_synced_entities_are_filter_rows() -> None:
    assert is_filter_row("userqueries", user_row("x", ALICE, MY_ACTIVE_CONTACTS), frozenset({"contact"}))
    assert not is_filter_row("userqueries", user_row("x", ALICE, MY_ACTIVE_CONTACTS, querytype=0))
    assert not is_filter_row("savedqueries", system_row("t", MY_ACTIVE_CONTACTS, querytype=131072))  # a template
    assert not is_filter_row("userqueries", user_row("x", ALICE, MY_ACTIVE_CONTACTS, entity="account"),
                             frozenset({"contact"}))  # fmt: skip
    assert not is_filter_row("teams", user_row("x", ALICE, MY_ACTIVE_CONTACTS))


def test_a_row_becomes_a_filter_with_its_owner_state_and_query() -> None:
    found = filter_of("userqueries", user_row("Mine", "A1", MY_ACTIVE_CONTACTS, statecode=1))
    assert (found.id, found.kind, found.owner, found.enabled, found.applies) == ("uq-mine", "user", "a1", False, False)
    assert found.query is not None and found.query.entity == "contact"


def test_a_refused_filter_does_not_apply_and_says_why() -> None:
    refused = filter_of("userqueries", user_row("Odd", ALICE, fetch("contact", ("ownerid", "under", "x"))))
    assert refused.query is None and not refused.applies
    assert refused.error and refused.error.startswith("not applied:") and "under" in refused.error
    other = filter_of("userqueries", user_row("Wrong", ALICE, fetch("task", ("statecode", "eq", "0"))))
    assert other.error == "not applied: its FetchXML reads task, the filter is for contact"


def test_a_users_filters_are_their_own_and_the_system_ones() -> None:
    filters = filter_set({
        "userqueries": [user_row("Mine", ALICE, MY_ACTIVE_CONTACTS), user_row("Bobs", BOB, MY_ACTIVE_CONTACTS)],
        "savedqueries": [system_row("Buyers", fetch("contact", ("jobtitle", "eq", "Buyer")))],
    })  # fmt: skip
    assert [f.name for f in filters.of("A1", "contact")] == ["Mine", "Buyers"]
    assert [f.name for f in filters.of("nobody", "contact")] == ["Buyers"]
    assert filters.of(ALICE, "task") == ()


def test_the_union_takes_a_record_one_filter_takes_and_explains_the_misses() -> None:
    filters = filter_set({"userqueries": [
        user_row("Mine", ALICE, MY_ACTIVE_CONTACTS),
        user_row("Team", ALICE, fetch("contact", ("ownerid", "eq-userteams", None))),
        user_row("Off", ALICE, MY_ACTIVE_CONTACTS, statecode=1),
    ]}).of(ALICE, "contact")  # fmt: skip
    teams = {"_ownerid_value": TEAM, "statecode": 0}
    assert [f.name for f in match(filters, teams, ME).matched] == ["Team"] and takes(filters, teams, ME)
    outside = match(filters, {"_ownerid_value": BOB, "statecode": 0}, ME)
    assert not outside.inside
    assert outside.sentence("alice", "contact") == (
        "no sync filter of alice for contact takes the record: user filter 'Mine' does not take the record "
        "(ownerid eq-userid does not hold: it is 'b2'); user filter 'Off' is disabled; user filter 'Team' does not "
        "take the record (ownerid eq-userteams does not hold: it is 'b2')"
    )
    assert match((), teams, ME).sentence("alice", "contact") == (
        "alice has no sync filter of contact: nothing of it syncs to their mailbox"
    )


def test_identities_are_the_mailbox_users_with_their_teams_and_unit() -> None:
    users = [{"systemuserid": "A1", "internalemailaddress": "a@x", "_businessunitid_value": "U1"},
             {"systemuserid": "n0"}]  # fmt: skip
    found = identities(users, [{"systemuserid": "a1", "teamid": "T3"}])
    assert found == {"a1": Identity("a1", frozenset({"t3"}), "u1")}
