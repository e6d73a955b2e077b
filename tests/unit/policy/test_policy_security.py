"""The pure security model (security.py): depth over a business-unit tree, team ownership and team roles, shares
to users and teams, field security through profiles of users and teams, System Administrators; one row per rule."""

from __future__ import annotations

import pytest

from services.policy.security import Security, Verb
from tests.policy_builders import CATALOGUE
from tests.security_rows import SALES, Org, sid

READ, WRITE = 1, 2


def organisation() -> tuple[Security, dict[str, str]]:
    """Root > Sales > East, West. Salespersons (Basic): alice, bob (East), carol (West); mgr Deep read/write from
    Sales; boss Global read at the root; loc Local read in East; idle no role; tina no role of her own but in the
    West team, whose role reads at Local depth; root holds System Administrator. alice is in the East team, which
    owns a record; records are shared as named below."""
    org = Org()
    sales = org.unit("Sales")
    east, west = org.unit("East", sales), org.unit("West", sales)
    seller = org.role("Salesperson", SALES)
    manager = org.role("Manager", {"prvReadContact": "Deep", "prvWriteContact": "Deep"})
    reader = org.role("Reader", {"prvReadContact": "Global"})
    local = org.role("Local reader", {"prvReadContact": "Local"})
    admin = org.role("System Administrator", {"prvReadContact": "Global"}, admin=True)
    ids = {
        "alice": org.user("alice", east, seller), "bob": org.user("bob", east, seller),
        "carol": org.user("carol", west, seller), "mgr": org.user("mgr", sales, manager),
        "boss": org.user("boss", None, reader), "loc": org.user("loc", east, local), "idle": org.user("idle", east),
        "tina": org.user("tina", east), "root": org.user("root", None, admin),
    }  # fmt: skip
    ids["east-team"] = org.team("East team", east, members=(ids["alice"],))
    ids["west-team"] = org.team("West team", west, members=(ids["tina"],), roles=(local,))
    ids["readers"] = org.team("Readers", east, members=(ids["alice"],), teamtype=1)
    org.share(sid("shared-read"), ids["alice"], READ)
    org.share(sid("shared-write"), ids["alice"], WRITE)
    org.share(sid("shared-team"), ids["readers"], READ)
    org.share(sid("shared-idle"), ids["idle"], READ)
    return org.security(), ids


SECURITY, IDS = organisation()

RECORDS = [
    # (user, owner, record, verb, allowed, reason)
    ("alice", "alice", "r", "Read", True, None),  # Basic: her own
    ("alice", "bob", "r", "Read", False, "no_access"),  # ... not a colleague's
    ("alice", "east-team", "r", "Read", True, None),  # ... her team's
    ("bob", "east-team", "r", "Read", False, "no_access"),  # ... not a team bob is not in
    ("mgr", "alice", "r", "Read", True, None),  # Deep from Sales: East
    ("mgr", "carol", "r", "Read", True, None),  # ... and West
    ("mgr", "boss", "r", "Read", False, "no_access"),  # ... not the root above
    ("boss", "carol", "r", "Read", True, None),  # Global
    ("loc", "bob", "r", "Read", True, None),  # Local: East
    ("loc", "carol", "r", "Read", False, "no_access"),  # ... not West
    ("loc", "east-team", "r", "Read", True, None),  # a team's records are in the team's unit
    ("idle", "alice", "r", "Read", False, "no_privilege"),
    ("tina", "carol", "r", "Read", True, None),  # her team's role, Local from the team's unit
    ("tina", "bob", "r", "Read", True, None),  # ... and from her own unit
    ("tina", "mgr", "r", "Read", False, "no_access"),
    ("alice", "bob", "shared-read", "Read", True, None),  # shared with her
    ("alice", "bob", "shared-write", "Read", False, "no_access"),  # shared, but not for reading
    ("alice", "bob", "shared-write", "Write", True, None),
    ("alice", "bob", "shared-team", "Read", True, None),  # shared with her access team
    ("bob", "bob", "shared-team", "Read", True, None),
    ("carol", "bob", "shared-team", "Read", False, "no_access"),
    ("idle", "bob", "shared-idle", "Read", False, "no_privilege"),  # a share needs the privilege
    ("root", "carol", "r", "Write", True, None),  # System Administrator: everything
    ("root", "carol", "r", "Delete", True, None),
    ("mgr", "carol", "r", "Write", True, None),
    ("boss", "carol", "r", "Write", False, "no_privilege"),  # read only
    ("alice", None, "r", "Create", True, None),
    ("boss", None, "r", "Create", False, "no_privilege"),
    ("alice", "alice", "r", "Delete", True, None),
    ("alice", "bob", "r", "Delete", False, "no_access"),
]


@pytest.mark.parametrize(("user", "owner", "record", "verb", "allowed", "reason"), RECORDS)
def test_record_rights(user: str, owner: str | None, record: str, verb: Verb, allowed: bool, reason: str) -> None:
    verdict = SECURITY.record(IDS[user], "contact", sid(record), IDS.get(owner or ""), verb)
    assert (verdict.allowed, verdict.reason) == (allowed, reason)
    assert (verdict.detail is None) == allowed


def test_activities_share_the_activity_privileges() -> None:
    assert SECURITY.record(IDS["alice"], "appointment", "a", IDS["alice"], "Read").allowed
    assert not SECURITY.record(IDS["mgr"], "task", "t", IDS["alice"], "Read").allowed  # only Contact privileges


def test_a_denial_says_why_in_one_sentence() -> None:
    verdict = SECURITY.record(IDS["alice"], "contact", "r", IDS["bob"], "Read")
    assert verdict.detail == (
        "alice holds prvReadContact at Basic depth; the record is owned by bob, East, and is not shared with alice "
        "or their teams for read"
    )
    assert SECURITY.record(IDS["idle"], "contact", "r", IDS["bob"], "Read").detail == (
        "idle holds no prvReadContact privilege through a role of theirs or of their teams"
    )


def test_mailboxes_map_to_users_whatever_the_case() -> None:
    assert SECURITY.user_of("Alice@Sandbox.Local") == IDS["alice"]
    assert SECURITY.user_of("nobody@sandbox.local") is None


def fields_org() -> tuple[Security, dict[str, str]]:
    org = Org()
    seller = org.role("Salesperson", SALES)
    admin = org.role("System Administrator", SALES, admin=True)
    ids = {name: org.user(name, None, seller) for name in ("alice", "bob", "carol")}
    ids["root"] = org.user("root", None, admin)
    team = org.team("Editors", members=(ids["bob"],))
    org.secure("contact", "jobtitle")
    org.secure("contact", "firstname")
    org.profile("Readers", {("contact", "jobtitle"): (True, False, False)}, users=(ids["alice"],))
    org.profile("Editors", {("contact", "jobtitle"): (True, True, False), ("contact", "firstname"): (True, True, True)},
                teams=(team,))  # fmt: skip
    return org.security(), ids


FIELDS = [
    # (user, field pair, readable, updatable, creatable)
    ("alice", "jobtitle", True, False, False),  # her own profile: read only
    ("alice", "fullname", False, False, False),  # a composite with a secured part she may not touch
    ("alice", "telephone1", True, True, True),  # not secured: the record rights decide
    ("bob", "jobtitle", True, True, False),  # through his team's profile
    ("bob", "fullname", True, True, True),
    ("carol", "jobtitle", False, False, False),  # no profile
    ("root", "jobtitle", True, True, True),  # System Administrator
    ("root", "fullname", True, True, True),
]


@pytest.mark.parametrize(("user", "key", "readable", "updatable", "creatable"), FIELDS)
def test_field_rights(user: str, key: str, readable: bool, updatable: bool, creatable: bool) -> None:
    security, ids = fields_org()
    rights = security.fields(ids[user], CATALOGUE.entities["contact"])
    got = (key not in rights.unreadable, key not in rights.unupdatable, key not in rights.uncreatable)
    assert got == (readable, updatable, creatable)


def test_a_field_denial_names_the_attribute_and_the_user() -> None:
    security, ids = fields_org()
    rights = security.fields(ids["carol"], CATALOGUE.entities["contact"])
    assert rights.unreadable["jobtitle"] == (
        "jobtitle of contact is a secured field and no field security profile of carol or their teams allows "
        "reading it"
    )
