"""The preview's explanations: which change of the candidate explains each difference, in one sentence.

Pure: no I/O, no clock, no logging. The candidate's changes are its direction changes, its conflict rule changes
and its settings changes. A field that starts or stops flowing for a change is explained by the direction change
of that entity and field; otherwise, when the entity's conflict rule changed, by that; otherwise by the settings.
A create, delete or unlink that differs is explained by the settings when they changed, else by the entity's
direction changes. Shares are of the entity's recorded changes (the settings': of all of them), so an admin reads
"turning contact description to `both` adds Exchange-to-CRM writes for 18% of contact changes". A change of the
candidate that makes no difference says so, and why: no recorded change carried the field, or where they would
write it in the directions the change concerns it is withheld either way (counted by reason: field security,
scope, tracking, already agreed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.policy.preview_diff import Compared, differs, moves, starts, stops
from shared.events import Policy
from shared.preview import Explanation, Way, way_of

WAYS: dict[Way, str] = {"to_exchange": "CRM-to-Exchange", "to_crm": "Exchange-to-CRM"}


@dataclass(frozen=True)
class Changes:
    """What the candidate changes against the current policy."""

    directions: tuple[tuple[str, str, str | None, str], ...] = ()  # entity, field, old, new
    rules: tuple[tuple[str, str, str], ...] = ()  # entity, old, new
    settings: tuple[tuple[str, object, object], ...] = ()  # name, old, new

    @property
    def none(self) -> bool:
        return not (self.directions or self.rules or self.settings)


def changes_of(current: Policy, candidate: Policy) -> Changes:
    directions = tuple(
        (entity, key, current.direction(entity, key), new)
        for entity, fields in sorted(candidate.directions.items())
        for key, new in sorted(fields.items())
        if current.direction(entity, key) != new
    )
    entities = sorted({*current.conflict_rules, *candidate.conflict_rules})
    rules = tuple(
        (e, current.conflict_rule(e), candidate.conflict_rule(e))
        for e in entities
        if current.conflict_rule(e) != candidate.conflict_rule(e)
    )
    old, new = current.settings.model_dump(), candidate.settings.model_dump()
    settings = tuple((name, old[name], new[name]) for name in sorted(new) if old[name] != new[name])
    return Changes(directions, rules, settings)


@dataclass
class Tally:
    """Per explaining change and effect, the ids of the recorded changes it accounts for."""

    ids: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], event_id: str) -> None:
        self.ids.setdefault(key, set()).add(event_id)

    def count(self, key: tuple[str, ...]) -> int:
        return len(self.ids.get(key, ()))


def _percent(part: int, whole: int) -> str:
    share = part / whole if whole else 0.0
    return f"{share:.0%}" if share >= 0.01 or share == 0 else f"{share:.1%}"


def _tally(compared: Sequence[Compared], changes: Changes) -> Tally:
    directed = {(entity, key) for entity, key, _old, _new in changes.directions}
    ruled = {entity for entity, _old, _new in changes.rules}
    tally = Tally()
    for one in compared:
        event_id, entity = one.entry.change.event_id, one.entity
        for kind, flows in (("adds", starts(one)), ("stops", stops(one))):
            for way, key in flows:
                if (entity, key) in directed:
                    tally.add(("direction", entity, key, kind, way), event_id)
                elif entity in ruled:
                    tally.add(("rule", entity), event_id)
                else:
                    tally.add(("settings",), event_id)
        if moves(one):
            tally.add(("settings",) if changes.settings else ("moves", entity), event_id)
        if differs(one) and entity in ruled:
            tally.add(("rule", entity), event_id)
    return tally


SOURCES: dict[Way, tuple[str, ...]] = {"to_exchange": ("both", "to_exchange"), "to_crm": ("both", "to_crm")}


def ways_of(direction: str | None) -> set[Way]:
    """The directions a field of this direction is written in."""
    return {way for way, directions in SOURCES.items() if direction in directions}


def _unchanged(of_entity: Sequence[Compared], entity: str, key: str, affected: set[Way]) -> str:
    """Why a direction change makes no difference: nothing carried the field, or what carried it in the directions
    the change concerns is withheld for another reason either way (counted by reason), or wrote it in none of them."""
    if not of_entity:
        return f"no {entity} change was recorded"
    carrying = [one for one in of_entity if key in one.entry.change.changed]
    if not carrying:
        return f"none of the {len(of_entity)} recorded {entity} changes carried it"
    ways = " or ".join(WAYS[w] for w in sorted(affected))
    reasons: Counter[str] = Counter()
    for one in carrying:  # per change, the reason of its first outcome of the field in a direction concerned
        concerned = [o for o in one.current.outcomes if o.field == key and way_of(o.target) in affected]
        if concerned:
            reasons[concerned[0].reason or "synced"] += 1
    if not reasons:
        return f"none of the {len(carrying)} recorded {entity} changes that carried it writes it {ways}"
    held = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
    return (f"the {reasons.total()} of the {len(carrying)} recorded {entity} changes that carried it that would "
            f"write it {ways} are withheld either way ({held})")


def explanations(compared: Sequence[Compared], current: Policy, candidate: Policy) -> tuple[Explanation, ...]:
    changes = changes_of(current, candidate)
    if changes.none:
        return (Explanation(change="none", sentence=f"the candidate is the current policy (version "
                            f"{current.version}): every recorded change is decided the same"),)  # fmt: skip
    per_entity = Counter(one.entity for one in compared)
    tally = _tally(compared, changes)
    found: list[Explanation] = []
    for entity, key, old, new in changes.directions:
        label, total = f"{entity}.{key}: {old} -> {new}", per_entity[entity]
        said = False
        for kind in ("adds", "stops"):
            for way, name in WAYS.items():
                n = tally.count(("direction", entity, key, kind, way))
                if n:
                    said = True
                    found.append(Explanation(
                        change=label, entity=entity, changes=n, share=n / total if total else 0.0,
                        sentence=f"turning {entity} {key} to `{new}` {kind} {name} writes for "
                                 f"{_percent(n, total)} of {entity} changes ({n} of {total})",
                    ))  # fmt: skip
        if not said:
            sentence = f"turning {entity} {key} to `{new}` changes nothing in the window: " + _unchanged(
                [one for one in compared if one.entity == entity], entity, key, ways_of(old) ^ ways_of(new))
            found.append(Explanation(change=label, entity=entity, sentence=sentence))
    for entity, old, new in changes.rules:
        n, total = tally.count(("rule", entity)), per_entity[entity]
        effect = (f"changes the outcome of {_percent(n, total)} of {entity} changes ({n} of {total})" if n
                  else "changes nothing in the window: no recorded conflict of it is decided otherwise")  # fmt: skip
        found.append(Explanation(change=f"{entity} conflicts: {old} -> {new}", entity=entity, changes=n,
                                 share=n / total if total else 0.0,
                                 sentence=f"deciding {entity} conflicts by `{new}` instead of `{old}` {effect}"))
    if changes.settings:
        n, total = tally.count(("settings",)), len(compared)
        named = ", ".join(f"{name} to {str(new).lower()}" for name, _old, new in changes.settings)
        effect = (f"changes what {_percent(n, total)} of all recorded changes send ({n} of {total})" if n
                  else "changes nothing in the window")  # fmt: skip
        found.append(Explanation(change="settings: " + ", ".join(n for n, _o, _v in changes.settings), changes=n,
                                 share=n / total if total else 0.0, sentence=f"setting {named} {effect}"))
    for entity in sorted({key[1] for key in tally.ids if key[0] == "moves"}):
        n, total = tally.count(("moves", entity)), per_entity[entity]
        found.append(Explanation(change=f"{entity} directions", entity=entity, changes=n, share=n / total,
                                 sentence=f"the direction changes of {entity} create or remove items for "
                                          f"{_percent(n, total)} of {entity} changes ({n} of {total})"))  # fmt: skip
    return tuple(found)
