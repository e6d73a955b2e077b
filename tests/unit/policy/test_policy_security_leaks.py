"""No leak, over 10,000 random organisations (hypothesis): no delta addressed to a mailbox carries a value of a field
its user may not read, no record its user may not read is created or updated there, and every CRM write acts as
the mailbox's user.

Each example (a seed hypothesis draws) builds a business-unit tree, roles with privileges at random depths (System
Administrator among them), users and teams in random units with random roles and memberships, a record owned by a
user or a team and shared at random, secured attributes and field security profiles of users and teams, then a CRM
change of the record (create, update or security refresh) or an Outlook edit of it, with random links and agreed
values, and runs decide, reconcile and plan. The oracle is written out here from the configuration, not from
security.py: the test must not share the code it checks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.policy.decide import decide
from services.policy.merge import FieldState
from services.policy.plan import plan
from services.policy.reconcile import reconcile
from services.policy.verdict import Facts
from shared.events import ItemChanged, ItemDelta, Source
from tests.policy_builders import CATALOGUE, NOW, policy
from tests.security_rows import Org

settings.register_profile(
    "security-leaks", max_examples=10_000, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
NAMES = ("alice", "bob", "carol")
ENTITIES = ("contact", "task")
SECURABLE = {"contact": ("jobtitle", "telephone1", "firstname", "description"), "task": ("subject", "description")}
DEPTHS = ("Basic", "Local", "Deep", "Global")
DEPTH_RANK = {"Basic": 1, "Local": 2, "Deep": 4, "Global": 8}
EARLIER = NOW - timedelta(seconds=5)
STATS = {"configurations": 0, "deltas": 0, "leaks": 0}
LEAKS: list[str] = []


@dataclass(frozen=True)
class Config:
    parents: tuple[int, ...]  # unit i+1's parent (an earlier unit; 0 is the root)
    roles: tuple[tuple[bool, tuple[tuple[str, str], ...]], ...]  # (admin, ((privilege, depth), ...))
    users: tuple[tuple[int, tuple[int, ...]], ...]  # (unit, roles) of alice, bob, carol
    teams: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]  # (unit, members, roles)
    entity: str
    owner: int  # < 3: a user; else team owner - 3
    shares: tuple[tuple[int, int], ...]  # (principal as owner, mask)
    secured: tuple[str, ...]
    profiles: tuple[tuple[tuple[tuple[str, bool, bool, bool], ...], tuple[int, ...]], ...]  # (perms, principals)

    def unit(self, principal: int) -> int:
        return self.users[principal][0] if principal < 3 else self.teams[principal - 3][0]

    def descendants(self, unit: int) -> set[int]:
        return {unit} | {child for child in range(1, len(self.parents) + 1) if unit in self._chain(child)}

    def _chain(self, unit: int) -> list[int]:
        chain, current = [], unit
        while current:
            current = self.parents[current - 1]
            chain.append(current)
        return chain

    def teams_of(self, user: int) -> set[int]:
        return {t for t, (_, members, _) in enumerate(self.teams) if user in members}


def _some(rng: random.Random, items: list[Any] | tuple[Any, ...], most: int) -> tuple[Any, ...]:
    return tuple(rng.sample(list(items), rng.randint(0, min(most, len(items)))))


def configs(rng: random.Random) -> Config:
    """One random organisation (hypothesis drives the seed: drawing every part as a strategy is 10x slower)."""
    parents = tuple(rng.randint(0, i) for i in range(rng.randint(0, 4)))
    units = len(parents) + 1
    entity = rng.choice(ENTITIES)
    noun = "Contact" if entity == "contact" else "Activity"
    names = [f"prvRead{noun}", f"prvWrite{noun}", f"prvCreate{noun}"]
    def privileges() -> tuple[tuple[str, str], ...]:
        return tuple((rng.choice(names), rng.choice(DEPTHS)) for _ in range(rng.randint(0, 3)))

    roles = tuple((rng.randint(0, 9) == 0, privileges()) for _ in range(rng.randint(1, 3)))
    role_ids = list(range(len(roles)))
    users = tuple((rng.randrange(units), _some(rng, role_ids, 2)) for _ in NAMES)
    teams = tuple((rng.randrange(units), _some(rng, (0, 1, 2), 3), _some(rng, role_ids, 2))
                  for _ in range(rng.randint(0, 2)))  # fmt: skip
    principals = list(range(3 + len(teams)))
    shares = tuple((rng.choice(principals), rng.choice((1, 2, 3))) for _ in range(rng.randint(0, 2)))
    secured = _some(rng, SECURABLE[entity], 3)
    profiles = tuple(
        (tuple((rng.choice(SECURABLE[entity]), rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5)
               for _ in range(rng.randint(0, 3))), _some(rng, principals, 2))
        for _ in range(rng.randint(0, 2))
    )  # fmt: skip
    return Config(parents, roles, users, teams, entity, rng.choice(principals), shares, secured, profiles)


def organisation(config: Config) -> tuple[Org, list[str]]:
    """The configuration as security table rows; returns the principals' ids (users, then teams)."""
    org = Org()
    units = [org.root]
    for parent in config.parents:
        units.append(org.unit(f"u{len(units)}", units[parent]))
    roles = [org.role(f"r{i}", dict(privileges), admin=admin) for i, (admin, privileges) in enumerate(config.roles)]
    users = [org.user(name, units[unit], *(roles[r] for r in held))
             for name, (unit, held) in zip(NAMES, config.users, strict=True)]  # fmt: skip
    teams = [org.team(f"t{i}", units[unit], tuple(users[m] for m in members), tuple(roles[r] for r in held))
             for i, (unit, members, held) in enumerate(config.teams)]  # fmt: skip
    principals = users + teams
    for principal, mask in config.shares:
        org.share("record", principals[principal], mask)
    for attribute in config.secured:
        org.secure(config.entity, attribute)
    for i, (permissions, holders) in enumerate(config.profiles):
        org.profile(f"p{i}", {(config.entity, a): (r, u, c) for a, r, u, c in permissions},
                    users=tuple(principals[h] for h in holders if h < 3),
                    teams=tuple(principals[h] for h in holders if h >= 3))  # fmt: skip
    return org, principals


# The oracle, from the configuration alone.


def _roles_with_anchors(config: Config, user: int) -> list[tuple[int, set[int]]]:
    own = [(r, {config.unit(user)}) for r in config.users[user][1]]
    teams = [(r, {config.unit(user), config.teams[t][0]}) for t in config.teams_of(user) for r in config.teams[t][2]]
    return own + teams


def is_admin(config: Config, user: int) -> bool:
    return any(config.roles[r][0] for r, _ in _roles_with_anchors(config, user))


def may_read(config: Config, user: int) -> bool:
    if is_admin(config, user):
        return True
    wanted = "prvReadContact" if config.entity == "contact" else "prvReadActivity"
    owner_unit, owners = config.unit(config.owner), {user} | {3 + t for t in config.teams_of(user)}
    held = False
    for role, anchors in _roles_with_anchors(config, user):
        for name, depth in config.roles[role][1]:
            if name != wanted:
                continue
            held = True
            rank = DEPTH_RANK[depth]
            if rank == 8 or config.owner in owners:
                return True
            if rank == 4 and any(owner_unit in config.descendants(a) for a in anchors):
                return True
            if rank == 2 and owner_unit in anchors:
                return True
    return held and any(p in owners and mask & 1 for p, mask in config.shares)


def may_read_attribute(config: Config, user: int, attribute: str) -> bool:
    if attribute not in config.secured or is_admin(config, user):
        return True
    mine = {user} | {3 + t for t in config.teams_of(user)}
    return any(a == attribute and r and mine & set(holders)
               for permissions, holders in config.profiles for a, r, _, _ in permissions)  # fmt: skip


def may_read_field(config: Config, user: int, key: str) -> bool:
    pair = CATALOGUE.entities[config.entity].field(key)
    assert pair is not None
    return all(may_read_attribute(config, user, a) for a in pair.crm_attributes)


def every_field(entity: str) -> dict[str, Any]:
    return {p.key: f"v-{p.key}" for p in CATALOGUE.entities[entity].fields if p.crm_attributes}


def changes(rng: random.Random, config: Config, principals: list[str]) -> tuple[ItemChanged, Facts, dict[Any, Any]]:
    """A CRM change of the record (create, update, refresh) or an Outlook edit, with random links and states."""
    entity, keys = config.entity, sorted(every_field(config.entity))
    mailboxes = [f"{name}@sandbox.local" for name in NAMES]
    links = {m: f"x-{m}" for m in _some(rng, mailboxes, 3)}
    agreed = _some(rng, keys, 4)
    states = {(entity, "record", m): {k: FieldState(f"old-{k}", EARLIER, "crm", {"crm": f"old-{k}",
                                                                                   "exchange": f"old-{k}"})
                                      for k in agreed} for m in links}  # fmt: skip
    crm_values = {**{k: f"crm-{k}" for k in keys}, "@ownerid": principals[config.owner]}
    if rng.random() < 0.67:
        owner_mailbox = mailboxes[config.owner] if config.owner < 3 else None
        op = rng.choice(["create", "update", "update"])
        every = op == "create" or rng.random() < 0.5
        changed = every_field(entity) if every else {k: f"new-{k}" for k in rng.sample(keys, rng.randint(1, 4))}
        context = {"ownerid": principals[config.owner], "owner_mailbox": owner_mailbox, "statecode": 0}
        change = ItemChanged(event_id="e", occurred_at=NOW, captured_at=NOW, source=Source(system="crm"),
                             entity=entity, op=op, crm_id="record", changed=changed, context=context,
                             previous=dict(changed))  # fmt: skip
        return change, Facts(links=links, crm_values=crm_values), states
    mailbox = rng.choice(mailboxes)
    edited = {k: f"edit-{k}" for k in rng.sample(keys, rng.randint(1, 4))}
    change = ItemChanged(event_id="e", occurred_at=NOW, captured_at=NOW, source=Source(system="exchange"),
                         entity=entity, op="update", crm_id="record", mailbox=mailbox, exchange_id="x",
                         changed=edited, previous={k: f"old-{k}" for k in edited})  # fmt: skip
    return change, Facts(links={**links, mailbox: "x"}, crm_values=crm_values), states


def leaks_of(config: Config, deltas: list[ItemDelta], principals: list[str]) -> list[str]:
    found = []
    for delta in deltas:
        if delta.target == "crm" and delta.acting_user != principals[NAMES.index((delta.mailbox or "").split("@")[0])]:
            found.append(f"a CRM write acting as {delta.acting_user}, not as {delta.mailbox}'s user")
        if delta.target != "exchange" or delta.op == "delete":
            continue
        user = NAMES.index((delta.mailbox or "").split("@")[0])
        if not may_read(config, user):
            found.append(f"{delta.op} of an unreadable record to {delta.mailbox}")
        found += [f"{k} to {delta.mailbox}" for k, v in delta.changed.items()
                  if v is not None and not may_read_field(config, user, k)]  # fmt: skip
    return found


@settings(settings.get_profile("security-leaks"))
@given(seed=st.integers(0, 2**64))
def _no_leak(seed: int) -> None:
    rng = random.Random(seed)
    config = configs(rng)
    org, principals = organisation(config)
    security = org.security()
    change, facts, states = changes(rng, config, principals)
    decision = decide(change, CATALOGUE.entity(change.entity), policy(), facts, NOW, security)
    reconciled = reconcile(change, decision, states, "latest")
    deltas = [o.event for o in plan(change, reconciled.decision, 7, NOW) if isinstance(o.event, ItemDelta)]
    STATS["configurations"] += 1
    STATS["deltas"] += len(deltas)
    found = leaks_of(config, deltas, principals)
    STATS["leaks"] += len(found)
    if found and len(LEAKS) < 5:
        LEAKS.append(f"{found} in {config} for {change.changed}")


def test_no_delta_ever_leaks_a_record_or_field_to_a_mailbox_whose_user_may_not_read_it() -> None:
    STATS.update(configurations=0, deltas=0, leaks=0)
    _no_leak()
    print(f"\nsecurity leaks: {STATS['configurations']} configurations, {STATS['deltas']} deltas, "
          f"{STATS['leaks']} leaks")  # fmt: skip
    assert STATS["configurations"] >= 10_000
    assert STATS["leaks"] == 0, LEAKS
