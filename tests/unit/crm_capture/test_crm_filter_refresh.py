"""Sync filter changes in the security rounds (filter_refresh.py, security_loop.py): a filter change refreshes
exactly the records whose membership changed (an unrelated record is not refreshed), the refresh carries the
record's attributes, and the default templates are copied before the user filters are read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.crm_capture.filter_refresh import after, filters_of, moved
from services.crm_capture.security_loop import SecurityCapture
from services.crm_capture.security_tables import RowChange, SecurityTable
from shared.crm.snapshot import ATTRIBUTES, OWNER, OWNER_MAILBOX, STATE, VERSION
from shared.fetch_match import Identity
from tests.security_rows import ALL_ACTIVE_CONTACTS, MY_ACTIVE_CONTACTS, fetch
from tests.unit.crm_capture.test_crm_security_loop import FakeProducer, FakeSnapshots, FakeSource, FakeStore

ALICE, BOB = "a1", "b2"
USERS = SecurityTable("systemusers", "systemuserid")
USER_QUERIES = SecurityTable("userqueries", "userqueryid")
SAVED_QUERIES = SecurityTable("savedqueries", "savedqueryid")
TABLES = (USERS, USER_QUERIES, SAVED_QUERIES)
BUYERS = fetch("contact", ("jobtitle", "eq", "Buyer"))


def query(key: str, owner: str, fetchxml: str, statecode: int = 0) -> dict[str, Any]:
    return {"userqueryid": key, "name": key, "querytype": 256, "returnedtypecode": "contact", "fetchxml": fetchxml,
            "statecode": statecode, "_ownerid_value": owner}  # fmt: skip


def contact(owner: str, title: str | None, state: int = 0) -> dict[str, Any]:
    attributes = {"_ownerid_value": owner, "statecode": state, "jobtitle": title}
    return {"jobtitle": title, OWNER: owner, OWNER_MAILBOX: f"{owner}@x", STATE: state, VERSION: "7",
            ATTRIBUTES: attributes}  # fmt: skip


SNAPSHOTS = {
    ("contact", "mine"): contact(ALICE, "Clerk"),
    ("contact", "bobs-buyer"): contact(BOB, "Buyer"),
    ("contact", "bobs-clerk"): contact(BOB, "Clerk"),
    ("contact", "bobs-inactive"): contact(BOB, "Buyer", state=1),
    ("task", "t1"): {"subject": "s", OWNER: BOB, STATE: 0},
}
WHO = {ALICE: Identity(ALICE, frozenset(), None), BOB: Identity(BOB, frozenset(), None)}


def records(*keys: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [("contact", key, SNAPSHOTS[("contact", key)][ATTRIBUTES]) for key in keys]


def test_a_new_filter_moves_exactly_the_records_it_takes_in() -> None:
    stored = {"userqueries": {"q1": query("q1", ALICE, MY_ACTIVE_CONTACTS)}}
    now = after(stored, [RowChange("userqueries", "q2", query("q2", ALICE, BUYERS))])
    everything = records("mine", "bobs-buyer", "bobs-clerk", "bobs-inactive")
    found = moved(filters_of(stored), filters_of(now), WHO, everything)
    assert found == {("contact", "bobs-buyer"), ("contact", "bobs-inactive")}


def test_disabling_a_filter_moves_what_only_it_took_and_an_unchanged_user_moves_nothing() -> None:
    stored = {"userqueries": {"q1": query("q1", ALICE, MY_ACTIVE_CONTACTS), "q2": query("q2", ALICE, BUYERS),
                              "q3": query("q3", BOB, MY_ACTIVE_CONTACTS)}}  # fmt: skip
    now = after(stored, [RowChange("userqueries", "q2", query("q2", ALICE, BUYERS, statecode=1))])
    everything = records("mine", "bobs-buyer", "bobs-clerk", "bobs-inactive")
    assert moved(filters_of(stored), filters_of(now), WHO, everything) == {
        ("contact", "bobs-buyer"), ("contact", "bobs-inactive")}  # fmt: skip
    gone = after(stored, [RowChange("userqueries", "q1", stored["userqueries"]["q1"], deleted=True)])
    assert moved(filters_of(stored), filters_of(gone), WHO, everything) == {("contact", "mine")}


async def test_a_filter_round_refreshes_only_the_records_whose_membership_changed() -> None:
    source, store, producer = FakeSource(), FakeStore(), FakeProducer()
    source.tables |= {t.name: {} for t in TABLES}
    source.changed |= {t.name: {} for t in TABLES}
    copied: list[list[str]] = []

    class Copier:
        async def ensure(self, users: Iterable[str]) -> None:
            copied.append(list(users))
            for user in users:
                if f"my-{user}" not in source.tables["userqueries"]:
                    source.put("userqueries", f"my-{user}", query(f"my-{user}", user, MY_ACTIVE_CONTACTS))

    for user in (ALICE, BOB):
        source.put("systemusers", user, {"systemuserid": user, "internalemailaddress": f"{user}@x"})
    loop = SecurityCapture(
        source=source, store=store, records=FakeSnapshots(SNAPSHOTS), producer=producer,  # type: ignore[arg-type]
        synced=frozenset({"contact", "task"}), tables=TABLES, templates=Copier(),
    )  # fmt: skip
    await loop.poll()  # the first round: the users (every record refreshed), and the templates copied in it
    assert copied == [[ALICE, BOB]]
    assert {e.table for e in producer.security()} == {"systemusers", "userqueries"}
    first = {e.crm_id: e for e in producer.refreshes()}
    assert first["bobs-buyer"].context["attributes"] == SNAPSHOTS[("contact", "bobs-buyer")][ATTRIBUTES]

    sent = len(producer.refreshes())
    source.put("userqueries", "all", query("all", ALICE, ALL_ACTIVE_CONTACTS))
    assert await loop.poll() == 1
    refreshed = producer.refreshes()[sent:]
    # bob's active contacts enter alice's filters; her own, bob's inactive one and the task are not touched
    assert sorted(e.crm_id for e in refreshed) == ["bobs-buyer", "bobs-clerk"]
    assert all(e.context["security_round"] == 2 and e.context["refresh"] for e in refreshed)
    assert copied[-1] == [ALICE, BOB]  # asked each round; the copier itself knows whom it served
