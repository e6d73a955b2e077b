"""Property: scope is exactly the union of each user's enabled filters intersected with read access, for random
filters, records and security configurations (hypothesis).

The oracle evaluates the filters with its own predicates (written out here, not taken from shared.fetch_match)
and asks read access of Security (security.py, which has its own tables and a differential test against the
sandbox): a mailbox gets a create or an update exactly when one of its user's enabled, parseable filters for the
entity takes the record and the user may read it; every linked mailbox outside gets a logical delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.policy.decide import decide
from services.policy.verdict import Facts
from tests.policy_builders import CATALOGUE, NOW, crm, every_field, policy
from tests.security_rows import Org, fetch

USERS = ("ann", "ben", "cat")
Record = dict[str, Any]


def _title(record: Record) -> str | None:
    """Strings compare case-insensitively, as under Dynamics' default collation."""
    return record["jobtitle"].lower() if record["jobtitle"] is not None else None


# (FetchXML condition, the oracle's own reading of it for user `me`)
CONDITIONS: dict[str, tuple[tuple[str, str, str | None], Callable[[Record, str], bool]]] = {
    "mine": (("ownerid", "eq-userid", None), lambda r, me: r["owner"] == me),
    "not mine": (("ownerid", "ne-userid", None), lambda r, me: r["owner"] != me),
    "active": (("statecode", "eq", "0"), lambda r, me: r["statecode"] == 0),
    "buyer": (("jobtitle", "eq", "Buyer"), lambda r, me: _title(r) == "buyer"),
    "not buyer": (("jobtitle", "ne", "Buyer"), lambda r, me: _title(r) is not None and _title(r) != "buyer"),
    "no title": (("jobtitle", "null", None), lambda r, me: r["jobtitle"] is None),
    "bu-ish": (("jobtitle", "like", "Bu%"), lambda r, me: (_title(r) or "").startswith("bu")),
}  # fmt: skip
BROKEN = ("ownerid", "under", "00000000-0000-0000-0000-000000000001")  # refused: never applies


@st.composite
def filter_specs(draw: st.DrawFn) -> tuple[tuple[str, ...], str, bool, bool]:
    """(condition names, and/or, enabled, broken)."""
    names = tuple(draw(st.lists(st.sampled_from(sorted(CONDITIONS)), min_size=1, max_size=3, unique=True)))
    return names, draw(st.sampled_from(["and", "or"])), draw(st.booleans()), draw(st.integers(0, 5)) == 0


def holds(spec: tuple[tuple[str, ...], str, bool, bool], record: Record, me: str) -> bool:
    names, kind, enabled, broken = spec
    if not enabled or broken:
        return False
    results = [CONDITIONS[name][1](record, me) for name in names]
    return all(results) if kind == "and" else any(results)


@settings(max_examples=150, deadline=None)
@given(
    depths=st.fixed_dictionaries({u: st.sampled_from([None, "Basic", "Local", "Global"]) for u in USERS}),
    units=st.fixed_dictionaries({u: st.sampled_from(["east", "west"]) for u in USERS}),
    shared=st.sets(st.sampled_from(USERS)),
    user_filters=st.fixed_dictionaries({u: st.lists(filter_specs(), max_size=2) for u in USERS}),
    system_filters=st.lists(filter_specs(), max_size=2),
    owner=st.sampled_from(USERS),
    statecode=st.sampled_from([0, 1]),
    jobtitle=st.sampled_from([None, "Buyer", "Clerk", "buyer", "Bursar"]),
    linked=st.sets(st.sampled_from(USERS)),
)
def test_scope_is_the_union_of_the_filters_intersected_with_read_access(
    depths: dict[str, str | None], units: dict[str, str], shared: set[str],
    user_filters: dict[str, list[tuple[tuple[str, ...], str, bool, bool]]],
    system_filters: list[tuple[tuple[str, ...], str, bool, bool]], owner: str, statecode: int, jobtitle: str | None,
    linked: set[str],
) -> None:  # fmt: skip
    org = Org()
    unit_ids = {name: org.unit(name) for name in ("east", "west")}
    ids = {}
    for user in USERS:
        role = org.role(f"Reader {user}", {"prvReadContact": depths[user]}) if depths[user] else None
        ids[user] = org.user(user, unit_ids[units[user]], *([role] if role else []), templates=False)
    for user, specs in user_filters.items():
        for index, spec in enumerate(specs):
            org.filter(ids[user], f"f{index}", "contact", _fetchxml(spec), enabled=spec[2])
    for index, spec in enumerate(system_filters):
        org.system_filter(f"s{index}", "contact", _fetchxml(spec), enabled=spec[2])
    for user in shared:
        org.share("r1", ids[user], 1)
    security = org.security()
    row = {"contactid": "r1", "_ownerid_value": ids[owner], "statecode": statecode, "jobtitle": jobtitle}
    change = crm("contact", "update", every_field("contact"), ownerid=ids[owner],
                 owner_mailbox=f"{owner}@sandbox.local", statecode=statecode, attributes=row)  # fmt: skip
    facts = Facts(links={f"{u}@sandbox.local": f"x-{u}" for u in linked})
    decision = decide(change, CATALOGUE.entities["contact"], policy(), facts, NOW, security)

    record = {"owner": ids[owner], "statecode": statecode, "jobtitle": jobtitle}
    expected = set()
    for user in USERS:
        taken = any(holds(spec, record, ids[user]) for spec in [*user_filters[user], *system_filters])
        readable = security.record(ids[user], "contact", "r1", ids[owner], "Read").allowed
        if taken and readable:
            expected.add(f"{user}@sandbox.local")
    reached = {t.mailbox for t in decision.targets if t.op in ("create", "update")}
    assert reached == expected
    deleted = {t.mailbox for t in decision.targets if t.op == "delete"}
    assert deleted == {f"{u}@sandbox.local" for u in linked} - expected


def _fetchxml(spec: tuple[tuple[str, ...], str, bool, bool]) -> str:
    names, kind, _, broken = spec
    conditions = [CONDITIONS[name][0] for name in names] + ([BROKEN] if broken else [])
    return fetch("contact", *conditions, kind=kind)
