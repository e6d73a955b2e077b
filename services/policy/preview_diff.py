"""The preview's comparison: the window's changes decided under the current and the candidate policy, side by side.

Pure: no I/O, no clock, no logging. A field *flows* to a target when its outcome there is synced. Per recorded
change, the (direction, field) pairs that flow under the candidate and not now *start*, the reverse *stop*; a
change counts once per pair however many mailboxes it reaches. A target's *effect* is the strongest write it
receives (create, delete, unlink, update, nothing): a create the current policy does not send *enters*, a delete
or unlink it does not send *leaves*, and the reverse of each. The newest differing changes are the sample, every
target with its note and its changed fields' outcomes under both policies (the decision log's own shapes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.policy.explanation import note_for
from services.policy.verdict import Decision
from shared.change_window import WindowEntry
from shared.events import Effect, System
from shared.preview import FlowChange, ItemMove, Sample, TargetOutcome, Way, WindowSummary, way_of

Flow = tuple[Way, str]  # direction, field
TargetKey = tuple[System, str | None]  # target, mailbox
STRENGTH: dict[Effect | None, int] = {None: 0, "update": 1, "unlink": 2, "delete": 3, "create": 4}
REMOVING: frozenset[Effect | None] = frozenset({"delete", "unlink"})


@dataclass(frozen=True)
class Compared:
    """One recorded change and its decision under the current and the candidate policy."""

    entry: WindowEntry
    current: Decision
    candidate: Decision

    @property
    def entity(self) -> str:
        return self.entry.change.entity


def flowing(decision: Decision) -> set[Flow]:
    return {(way_of(o.target), o.field) for o in decision.outcomes if o.synced}


def starts(compared: Compared) -> set[Flow]:
    return flowing(compared.candidate) - flowing(compared.current)


def stops(compared: Compared) -> set[Flow]:
    return flowing(compared.current) - flowing(compared.candidate)


def effects(decision: Decision) -> dict[TargetKey, Effect | None]:
    """Every target's strongest effect (a target named twice, such as a write-back's, keeps the strongest)."""
    found: dict[TargetKey, Effect | None] = {}
    for target in decision.targets:
        key = (target.target, target.mailbox)
        if STRENGTH[target.effect] >= STRENGTH[found.get(key)]:
            found[key] = target.effect
    return found


def moves(compared: Compared) -> list[ItemMove]:
    """The targets whose effect differs where either effect creates or removes an item."""
    now, then = effects(compared.current), effects(compared.candidate)
    change = compared.entry.change
    found = []
    for key in sorted({*now, *then}, key=lambda k: (k[0], k[1] or "")):
        current, candidate = now.get(key), then.get(key)
        if current != candidate and ({current, candidate} & {"create", *REMOVING}):
            target, mailbox = key
            exchange_id = change.exchange_id if target == "exchange" and mailbox == change.mailbox else None
            found.append(ItemMove(
                event_id=change.event_id, entity=change.entity, crm_id=change.crm_id, target=target, mailbox=mailbox,
                exchange_id=exchange_id or compared.entry.facts.links.get(mailbox or ""), current=current,
                candidate=candidate,
            ))  # fmt: skip
    return found


def signature(decision: Decision) -> tuple[object, ...]:
    """What a decision sends and says: equal signatures, no difference."""
    writes = tuple((t.target, t.mailbox, t.effect, tuple(sorted(t.fields))) for t in decision.writes)
    outcomes = tuple((o.target, o.mailbox, o.field, o.synced, o.reason) for o in decision.outcomes)
    return writes, outcomes, tuple((t.target, t.mailbox, t.note) for t in decision.targets)


def differs(compared: Compared) -> bool:
    return signature(compared.current) != signature(compared.candidate)


def flow_changes(compared: Iterable[Compared]) -> tuple[FlowChange, ...]:
    """Per entity, field and direction: how many changes start and stop flowing, sorted by entity and field."""
    started: Counter[tuple[str, str, Way]] = Counter()
    stopped: Counter[tuple[str, str, Way]] = Counter()
    for one in compared:
        started.update((one.entity, key, way) for way, key in starts(one))
        stopped.update((one.entity, key, way) for way, key in stops(one))
    return tuple(
        FlowChange(entity=entity, field=key, way=way, starts=started[(entity, key, way)],
                   stops=stopped[(entity, key, way)])
        for entity, key, way in sorted({*started, *stopped})
    )  # fmt: skip


def target_outcomes(decision: Decision) -> tuple[TargetOutcome, ...]:
    """Every target's note and the outcomes of the fields the change carried (unchanged ones left out)."""
    return tuple(
        TargetOutcome(note=note_for(t), outcomes=tuple(o for o in t.outcomes if o.reason != "unchanged"))
        for t in decision.targets
    )


def sample(compared: Compared) -> Sample:
    change = compared.entry.change
    return Sample(
        event_id=change.event_id, entity=change.entity, side=change.source.system, op=change.op,
        crm_id=change.crm_id, mailbox=change.mailbox, exchange_id=change.exchange_id, occurred_at=change.occurred_at,
        decided_at=compared.entry.decided_at, current=target_outcomes(compared.current),
        candidate=target_outcomes(compared.candidate),
    )  # fmt: skip


def summary(entries: Sequence[WindowEntry]) -> WindowSummary:
    if not entries:
        return WindowSummary()
    return WindowSummary(
        entries=len(entries), oldest=min(e.decided_at for e in entries), newest=max(e.decided_at for e in entries),
        by_entity=dict(sorted(Counter(e.change.entity for e in entries).items())),
        by_side=dict(sorted(Counter(e.change.source.system for e in entries).items())),
    )  # fmt: skip
