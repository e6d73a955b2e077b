"""Field decisions per second of the policy's pure core (decide, reconcile, plan), security off and on, in one run.

A field decision is one FieldOutcome: one field of one change for one target (CRM, or one mailbox). The workload is
built once, outside the timing: an organisation of `--users` users over a business-unit tree (Salespersons at Basic
depth, managers at Deep, a team, shares, three secured contact fields with profiles to some users and the team),
and `--changes` changes of records they own: CRM updates of a few fields of linked records (most), CRM creates with
every field, and Outlook edits. Each pass decides every change once; passes repeat for `--seconds` per mode, and
the modes alternate so that both see the same machine load. One process: the figures are per core.

Run: `python -m bench.decide [--users 200] [--changes 2000] [--seconds 5] [--json PATH]`; it prints one line per
mode and their ratio (goal: at least 100,000 field decisions per second per core with security on).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.policy.decide import decide
from services.policy.merge import FieldState
from services.policy.plan import plan
from services.policy.reconcile import Pair, reconcile
from services.policy.security import Security
from services.policy.security_model import Tables, build
from services.policy.verdict import Facts
from shared.catalogue import Catalogue, load_catalogue
from shared.events import ItemChanged, Policy, Source

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(seconds=5)
GOAL = 100_000
Work = tuple[ItemChanged, Facts, dict[Pair, dict[str, FieldState]]]


@dataclass(frozen=True)
class Figures:
    mode: str
    decisions: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.decisions / self.seconds if self.seconds else 0.0


def organisation(users: int, rng: random.Random) -> tuple[Tables, list[str]]:
    """The security tables of a sales organisation, as crm_capture publishes them; returns the user ids."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}

    def put(table: str, key: str, **row: Any) -> str:
        rows.setdefault(table, {})[key] = row
        return key

    units = [put("businessunits", "u0", businessunitid="u0", name="Root", _parentbusinessunitid_value=None)]
    for n in range(1, 6):
        units.append(put("businessunits", f"u{n}", businessunitid=f"u{n}", name=f"Unit {n}",
                         _parentbusinessunitid_value=units[(n - 1) // 2]))  # fmt: skip
    depths = {"seller": 1, "manager": 4}
    for verb in ("Create", "Read", "Write", "Delete"):
        for noun in ("Contact", "Activity"):
            put("privileges", f"prv{verb}{noun}", privilegeid=f"prv{verb}{noun}", name=f"prv{verb}{noun}")
            for role, depth in depths.items():
                put("roleprivilegescollection", f"{role}:{verb}{noun}", roleid=role, privilegeid=f"prv{verb}{noun}",
                    privilegedepthmask=depth)  # fmt: skip
    for role in depths:
        put("roles", role, roleid=role, name=role, _businessunitid_value="u0")
    ids = []
    for n in range(users):
        user = put("systemusers", f"user{n}", systemuserid=f"user{n}", firstname=f"user{n}",
                   internalemailaddress=f"user{n}@sandbox.local", _businessunitid_value=rng.choice(units))  # fmt: skip
        role = "manager" if n % 10 == 0 else "seller"
        put("systemuserrolescollection", f"{user}:{role}", systemuserid=user, roleid=role)
        ids.append(user)
    put("teams", "team", teamid="team", name="Team", _businessunitid_value="u1", teamtype=0)
    for user in ids[::3]:
        put("teammemberships", f"team:{user}", systemuserid=user, teamid="team")
    for n, attribute in enumerate(("jobtitle", "governmentid", "birthdate")):
        put("attributemetadata", attribute, EntityLogicalName="contact", LogicalName=attribute, IsSecured=True)
        put("fieldpermissions", f"p:{attribute}", _fieldsecurityprofileid_value="profile", entityname="contact",
            attributelogicalname=attribute, canread=4, canupdate=4 if n else 0, cancreate=0)  # fmt: skip
    for user in ids[::4]:
        put("systemuserprofilescollection", f"profile:{user}", systemuserid=user, fieldsecurityprofileid="profile")
    put("teamprofilescollection", "profile:team", teamid="team", fieldsecurityprofileid="profile")
    for n in range(users):
        put("principalobjectaccessset", f"share{n}", objectid=f"record{n}", principalid=rng.choice(ids),
            accessrightsmask=3)  # fmt: skip
    return Tables(rows), ids


def workload(catalogue: Catalogue, users: list[str], changes: int, rng: random.Random) -> list[Work]:
    contact = catalogue.entities["contact"]
    keys = [p.key for p in contact.fields if p.crm_attributes]
    found: list[Work] = []
    for n in range(changes):
        owner = rng.choice(users)
        mailbox, record = f"{owner}@sandbox.local", f"record{n}"
        kind = rng.random()
        links = {} if kind < 0.1 else {mailbox: f"x{n}"}
        crm_values = {**{k: f"crm-{k}" for k in keys}, "@ownerid": owner}
        agreed = {k: FieldState(f"crm-{k}", EARLIER, "crm", {"crm": f"crm-{k}", "exchange": f"crm-{k}"}) for k in keys}
        states = {("contact", record, mailbox): agreed} if links else {}
        if kind < 0.1:
            changed = {k: f"new-{k}" for k in keys}
            change = _change("crm", "create", record, changed, {"ownerid": owner, "owner_mailbox": mailbox})
        elif kind < 0.8:
            changed = {k: f"new-{k}" for k in rng.sample(keys, rng.randint(1, 5))}
            change = _change("crm", "update", record, changed, {"ownerid": owner, "owner_mailbox": mailbox})
        else:
            changed = {k: f"edit-{k}" for k in rng.sample(keys, rng.randint(1, 3))}
            change = _change("exchange", "update", record, changed, {}, mailbox)
        found.append((change, Facts(links=links, crm_values=crm_values), states))
    return found


def _change(side: str, op: str, record: str, changed: dict[str, Any], context: dict[str, Any],
            mailbox: str | None = None) -> ItemChanged:  # fmt: skip
    return ItemChanged(
        event_id=f"e-{record}", occurred_at=NOW, captured_at=NOW, source=Source(system=side), entity="contact", op=op,
        crm_id=record, mailbox=mailbox, exchange_id=f"x-{record}" if mailbox else None, changed=changed,
        context={**context, "statecode": 0}, previous={k: f"crm-{k}" for k in changed},
    )  # fmt: skip


def one_pass(work: list[Work], catalogue: Catalogue, policy: Policy, security: Security | None) -> int:
    decisions = 0
    for change, facts, states in work:
        decision = decide(change, catalogue.entity(change.entity), policy, facts, NOW, security)
        reconciled = reconcile(change, decision, states, "latest")
        plan(change, reconciled.decision, policy.version, NOW)
        decisions += len(reconciled.decision.outcomes)
    return decisions


def measure(work: list[Work], catalogue: Catalogue, policy: Policy, security: Security, seconds: float
            ) -> list[Figures]:  # fmt: skip
    """Alternate passes of both modes until each has run `seconds` of CPU time: on a shared machine the process'
    own CPU time, not the wall clock, is what one core did."""
    totals = {"off": [0, 0.0], "on": [0, 0.0]}
    modes: dict[str, Security | None] = {"off": None, "on": security}
    while min(total[1] for total in totals.values()) < seconds:
        for mode, guard in modes.items():
            started = time.process_time()
            totals[mode][0] += one_pass(work, catalogue, policy, guard)
            totals[mode][1] += time.process_time() - started
    return [Figures(mode, int(total[0]), float(total[1])) for mode, total in totals.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per mode")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    catalogue = load_catalogue()
    policy = Policy(version=1, updated_at=NOW, updated_by="bench", directions=catalogue.default_directions())
    tables, users = organisation(args.users, rng)
    started = time.perf_counter()
    security = Security(build(tables, 1))
    built = time.perf_counter() - started
    work = workload(catalogue, users, args.changes, rng)
    one_pass(work, catalogue, policy, security)  # warm: the per-user and per-(user, entity) answers are cached
    figures = measure(work, catalogue, policy, security, args.seconds)
    for figure in figures:
        print(f"security {figure.mode:>3}: {figure.per_second:>10,.0f} field decisions/s "
              f"({figure.decisions:,} in {figure.seconds:.2f} CPU s)")  # fmt: skip
    off, on = figures
    verdict = "met" if on.per_second >= GOAL else "NOT met"
    print(f"security on/off: {on.per_second / off.per_second:.2f}; model of {args.users} users built in "
          f"{built * 1000:.1f} ms; goal {GOAL:,}/s per core with security on: {verdict}")
    if args.json:
        rates = [asdict(f) | {"per_second": f.per_second} for f in figures]
        result = {"figures": rates, "model_build_s": built, "users": args.users, "changes": args.changes}
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
