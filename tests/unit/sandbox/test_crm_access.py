"""The sandbox's security rules, table by table: depths over a business-unit tree, teams, shares, secured fields."""

from __future__ import annotations

from typing import Any

import pytest

from infra.sandbox.crm.access import (
    check,
    field_access,
    is_system_administrator,
    rights,
    target_of,
    user_privileges,
)
from infra.sandbox.crm.privileges import BASIC, DEEP, GLOBAL, LOCAL, SYSTEM_ADMINISTRATOR_TEMPLATE, privilege_for
from infra.sandbox.crm.schema import entity_sets
from infra.sandbox.crm.security_state import SecurityState, state_from_rows

# Business units: root > sales > east, west; root > support.
ROOT, SALES, EAST, WEST, SUPPORT = "bu-root", "bu-sales", "bu-east", "bu-west", "bu-support"
USERS = {"alice": EAST, "bob": EAST, "carol": WEST, "mgr": SALES, "boss": ROOT, "sam": SUPPORT, "nobody": EAST}
CONTACTS, TASKS = entity_sets()["contacts"], entity_sets()["tasks"]
READ, WRITE, APPEND, APPEND_TO, CREATE, DELETE, SHARE, ASSIGN = 1, 2, 4, 16, 32, 65536, 262144, 524288


def pid(verb: str, entity: str = "Contact") -> str:
    privilege = privilege_for(entity, verb)
    assert privilege is not None
    return privilege.privilegeid


def state(**extra: Any) -> SecurityState:
    """The organisation above; `roles` maps role -> {privilege id: depth}, the rest are SecurityState fields."""
    roles = extra.pop("roles", {})
    return SecurityState(
        root=ROOT,
        parent={ROOT: None, SALES: ROOT, EAST: SALES, WEST: SALES, SUPPORT: ROOT},
        user_unit={**USERS, **extra.pop("user_unit", {})},
        role_privileges=roles,
        role_unit=dict.fromkeys(roles, ROOT),
        **extra,
    )


def contact(owner: str, record_id: str = "c1") -> dict[str, Any]:
    return {"contactid": record_id, "_ownerid_value": owner}


def can_read(s: SecurityState, user: str, row: dict[str, Any]) -> bool:
    return check(s, user, CONTACTS, row, "Read") is None


@pytest.mark.parametrize(
    ("depth", "user", "owner", "expected"),
    [
        (BASIC, "alice", "alice", True),  # Basic: owned by the user
        (BASIC, "alice", "bob", False),  # ... not a colleague's
        (LOCAL, "alice", "bob", True),  # Local: the user's business unit
        (LOCAL, "alice", "carol", False),  # ... not a sibling unit
        (LOCAL, "mgr", "alice", False),  # ... not a child unit
        (DEEP, "mgr", "alice", True),  # Deep: the unit and its descendants
        (DEEP, "mgr", "carol", True),
        (DEEP, "mgr", "mgr", True),
        (DEEP, "mgr", "boss", False),  # ... not its parent
        (DEEP, "mgr", "sam", False),  # ... nor a cousin
        (DEEP, "boss", "sam", True),  # Deep at the root reaches everything below it
        (GLOBAL, "sam", "alice", True),  # Global: the whole organisation
    ],
)
def test_a_depth_reaches_the_records_of_its_part_of_the_business_unit_tree(
    depth: int, user: str, owner: str, expected: bool
) -> None:
    s = state(roles={"r": {pid("Read"): depth}}, user_roles={user: frozenset({"r"})})
    assert can_read(s, user, contact(owner)) is expected


@pytest.mark.parametrize(
    ("members", "depth", "owner", "expected"),
    [
        ({"alice"}, BASIC, "team", True),  # Basic reaches records of the user's teams
        (set(), BASIC, "team", False),
        ({"alice"}, LOCAL, "bob", True),  # the team's role: Local from the member's unit (east) ...
        ({"alice"}, LOCAL, "sam", True),  # ... and from the team's own unit (support)
        ({"alice"}, LOCAL, "carol", False),  # ... not elsewhere
        (set(), LOCAL, "bob", False),  # not a member: nothing
    ],
)
def test_a_role_of_a_team_counts_for_its_members(members: set[str], depth: int, owner: str, expected: bool) -> None:
    s = state(
        roles={"r": {pid("Read"): depth}},
        team_unit={"team": SUPPORT},
        team_type={"team": 0},
        user_teams={m: frozenset({"team"}) for m in members},
        team_roles={"team": frozenset({"r"})},
    )
    assert can_read(s, "alice", contact(owner)) is expected


def test_records_owned_by_a_team_belong_to_the_teams_business_unit() -> None:
    s = state(roles={"r": {pid("Read"): LOCAL}}, user_roles={"carol": frozenset({"r"})}, team_unit={"team": WEST})
    assert target_of(s, CONTACTS, contact("team")).unit == WEST
    assert can_read(s, "carol", contact("team")) and not can_read(s, "alice", contact("team"))


@pytest.mark.parametrize(
    ("role_depth", "shared_with", "mask", "expected"),
    [
        (BASIC, "alice", READ, READ),  # own rights (none on carol's record) plus the share
        (BASIC, "team", READ | WRITE, READ | WRITE),  # shared with one of the user's teams
        (BASIC, "bob", READ, 0),  # shared with someone else
        (None, "alice", READ, 0),  # a share gives nothing without the privilege (privilege check first)
        (LOCAL, "alice", SHARE, SHARE),  # the share adds Share; Local does not reach the west record
    ],
)
def test_shares_add_rights_only_where_the_privilege_is_held(
    role_depth: int | None, shared_with: str, mask: int, expected: int
) -> None:
    privileges = {pid(v): role_depth for v in ("Read", "Share")} if role_depth else {}
    privileges |= {pid("Write"): BASIC} if role_depth else {}
    s = state(
        roles={"r": privileges}, user_roles={"alice": frozenset({"r"})}, team_unit={"team": EAST},
        user_teams={"alice": frozenset({"team"})}, shares={"c1": {shared_with: mask}},
    )  # fmt: skip
    assert rights(s, "alice", CONTACTS, contact("carol")) == expected


def test_rights_from_every_role_add_up_and_activities_share_the_activity_privileges() -> None:
    s = state(
        roles={"read": {pid("Read", "Activity"): GLOBAL}, "write": {pid("Write", "Activity"): BASIC}},
        user_roles={"alice": frozenset({"read", "write"})},
    )
    task = {"activityid": "t1", "_ownerid_value": "alice"}
    assert rights(s, "alice", TASKS, task) == READ | WRITE
    assert rights(s, "alice", TASKS, {**task, "_ownerid_value": "carol"}) == READ
    assert rights(s, "alice", CONTACTS, contact("alice")) == 0


@pytest.mark.parametrize(
    ("privileges", "owner", "held"),
    [({}, "alice", False), ({pid("Write"): BASIC}, "bob", True)],
)
def test_a_refusal_says_whether_the_privilege_is_missing_or_does_not_reach(
    privileges: dict[str, int], owner: str, held: bool
) -> None:
    s = state(roles={"r": privileges}, user_roles={"alice": frozenset({"r"})})
    denial = check(s, "alice", CONTACTS, contact(owner), "Write")
    assert denial is not None and denial.held is held and denial.right == "WriteAccess"
    assert denial.privilege is not None and denial.privilege.name == "prvWriteContact"


def test_create_is_checked_against_the_record_about_to_exist() -> None:
    s = state(roles={"r": {pid("Create"): BASIC}}, user_roles={"alice": frozenset({"r"})})
    assert check(s, "alice", CONTACTS, contact("alice"), "Create") is None
    refused = check(s, "alice", CONTACTS, contact("bob"), "Create")
    assert refused is not None and refused.held


def test_business_owned_and_administrator_only_tables() -> None:
    sets = entity_sets()
    roles, users, accesses = sets["roles"], sets["systemusers"], sets["principalobjectaccessset"]
    s = state(
        roles={"r": {pid("Read", "Role"): LOCAL, pid("Read", "User"): LOCAL}, "admin": {}},
        role_template={"admin": SYSTEM_ADMINISTRATOR_TEMPLATE},
        user_roles={"alice": frozenset({"r"}), "boss": frozenset({"admin"})},
    )  # fmt: skip
    assert check(s, "alice", roles, {"roleid": "x", "_businessunitid_value": EAST}, "Read") is None
    assert check(s, "alice", roles, {"roleid": "x", "_businessunitid_value": WEST}, "Read") is not None
    assert check(s, "alice", users, {"systemuserid": "bob", "_businessunitid_value": EAST}, "Read") is None
    assert check(s, "alice", accesses, {"principalobjectaccessid": "p"}, "Read") is not None
    assert check(s, "boss", accesses, {"principalobjectaccessid": "p"}, "Read") is None
    assert is_system_administrator(s, "boss") and not is_system_administrator(s, "alice")


@pytest.mark.parametrize(
    ("who", "readable", "updatable", "creatable"),
    [
        ("alice", {"jobtitle"}, set(), set()),  # her profile: read only
        ("carol", {"jobtitle", "telephone1"}, {"jobtitle"}, {"telephone1"}),  # team profile + her own add up
        ("bob", set(), set(), set()),  # no profile: secured fields are hidden
        ("boss", {"jobtitle", "telephone1"}, {"jobtitle", "telephone1"}, {"jobtitle", "telephone1"}),  # sysadmin
    ],
)
def test_secured_fields_follow_the_field_permissions_of_the_principals_profiles(
    who: str, readable: set[str], updatable: set[str], creatable: set[str]
) -> None:
    s = state(
        roles={"admin": {}}, role_template={"admin": SYSTEM_ADMINISTRATOR_TEMPLATE},
        user_roles={"boss": frozenset({"admin"})},
        secured=frozenset({("contact", "jobtitle"), ("contact", "telephone1"), ("task", "subject")}),
        profile_permissions={
            "readers": {("contact", "jobtitle"): (True, False, False)},
            "team-profile": {("contact", "jobtitle"): (True, True, False)},
            "phones": {("contact", "telephone1"): (True, False, True), ("contact", "bogus"): (True, True, True)},
        },
        user_profiles={"alice": frozenset({"readers"}), "carol": frozenset({"phones"})},
        team_unit={"team": WEST}, user_teams={"carol": frozenset({"team"})},
        team_profiles={"team": frozenset({"team-profile"})},
    )  # fmt: skip
    access = field_access(s, who, "contact")
    assert access.secured == {"jobtitle", "telephone1"}
    assert (access.readable, access.updatable, access.creatable) == (readable, updatable, creatable)
    assert access.hidden == access.secured - readable
    assert field_access(s, who, "appointment").secured == frozenset()


def test_user_privileges_list_each_privilege_once_at_its_highest_depth() -> None:
    s = state(
        roles={"low": {pid("Read"): BASIC}, "high": {pid("Read"): DEEP, pid("Write"): BASIC}},
        team_unit={"team": WEST}, user_teams={"alice": frozenset({"team"})},
        user_roles={"alice": frozenset({"low"})}, team_roles={"team": frozenset({"high"})},
    )  # fmt: skip
    found = {(p.name, depth) for p, depth, _ in user_privileges(s, "alice")}
    assert found == {("prvReadContact", DEEP), ("prvWriteContact", BASIC)}


def test_the_state_hangs_parentless_units_below_the_root_and_survives_a_cycle() -> None:
    rows = {
        "businessunits": [
            {"businessunitid": "root"}, {"businessunitid": "old"},
            {"businessunitid": "a", "_parentbusinessunitid_value": "b"},
            {"businessunitid": "b", "_parentbusinessunitid_value": "a"},
        ],
        "systemusers": [{"systemuserid": "u", "_businessunitid_value": "old"}],
        "teammemberships": [{"teammembershipid": "m", "systemuserid": "u", "teamid": "t"}],
        "principalobjectaccessset": [{"objectid": "o", "principalid": "u", "accessrightsmask": 3}],
        "attributemetadata": [{"EntityLogicalName": "contact", "LogicalName": "jobtitle", "IsSecured": True},
                              {"EntityLogicalName": "contact", "LogicalName": "nickname", "IsSecured": False}],
        "fieldpermissions": [{"_fieldsecurityprofileid_value": "p", "entityname": "contact",
                              "attributelogicalname": "jobtitle", "canread": 4, "canupdate": 0, "cancreate": 0}],
    }  # fmt: skip
    s = state_from_rows(rows, "root")
    assert s.parent["old"] == "root" and s.parent["root"] is None and "old" in s.subtree("root")
    assert s.subtree("a") == {"a", "b"}
    assert s.teams_of("u") == {"t"} and s.shares == {"o": {"u": 3}}
    assert s.secured == {("contact", "jobtitle")}
    assert s.profile_permissions["p"][("contact", "jobtitle")] == (True, False, False)
