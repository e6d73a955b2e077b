"""Which changes of a candidate policy explain a difference in sync, and for what share of the traffic (pure).

From the difference between the current and the candidate policy and the traffic's shape: a field whose effective
direction changes starts (or stops) flowing one way or both, and it does so for the changes that carry it from the
side it flows from. So "turning contact description from `to_exchange` to `both` adds Exchange-to-CRM writes for
18% of contact changes" means 18 % of the contact changes in the shape were made in Exchange and carried the
description. A conflict rule decides only between two-sided edits, and an organisation setting only deletes,
attachments and tracking: they are named, with no share of the field traffic.
"""

from __future__ import annotations

from typing import Literal

from infra.sandbox.traffic_shape import TrafficShape
from shared.catalogue import Catalogue, effective_direction
from shared.events import Direction, Frozen, Policy, System

Flow = Literal["crm_to_exchange", "exchange_to_crm"]
FLOWS: dict[Flow, tuple[System, frozenset[Direction]]] = {
    "crm_to_exchange": ("crm", frozenset({"both", "to_exchange"})),
    "exchange_to_crm": ("exchange", frozenset({"both", "to_crm"})),
}
FLOW_NAMES: dict[Flow, str] = {"crm_to_exchange": "CRM-to-Exchange", "exchange_to_crm": "Exchange-to-CRM"}


class Effect(Frozen):
    flow: Flow
    change: Literal["adds", "stops"]
    changes: int  # of the entity's changes in the traffic shape, those made on the flow's source side with the field
    of: int  # all the entity's changes in the traffic shape

    @property
    def share(self) -> float:
        return self.changes / self.of if self.of else 0.0


class Explanation(Frozen):
    kind: Literal["direction", "conflict_rule", "setting"]
    entity: str | None = None
    field: str | None = None
    before: str
    after: str
    effects: tuple[Effect, ...] = ()
    text: str

    @property
    def weight(self) -> float:
        return max((effect.share for effect in self.effects), default=0.0)


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%" if share >= 0.01 or share == 0 else "<1%"


def _direction(entity: str, key: str, before: Direction, after: Direction, shape: TrafficShape) -> Explanation:
    effects = []
    for flow, (side, flowing) in FLOWS.items():
        was, now = before in flowing, after in flowing
        if was != now:
            carried = int(shape.field_weights(side, entity).get(key, 0))
            effects.append(Effect(flow=flow, change="adds" if now else "stops", changes=carried,
                                  of=shape.entity_changes(entity)))  # fmt: skip
    head = f"turning {entity} {key} from `{before}` to `{after}`"
    if not effects:
        text = f"{head} changes no direction a write can take"
    elif all(effect.share == 0 for effect in effects):
        sides = "either side" if len(effects) > 1 else "that side"
        text = f"{head} {' and '.join(f'{e.change} {FLOW_NAMES[e.flow]} writes' for e in effects)}, " \
               f"but no {entity} change of the traffic carried {key} from {sides}"
    else:
        parts = [f"{e.change} {FLOW_NAMES[e.flow]} writes for {_percent(e.share)} of {entity} changes "
                 f"({e.changes} of {e.of})" if e.share
                 else f"{e.change} {FLOW_NAMES[e.flow]} writes, which no {entity} change of the traffic made"
                 for e in effects]  # fmt: skip
        text = f"{head} {' and '.join(parts)}"
    return Explanation(kind="direction", entity=entity, field=key, before=before, after=after,
                       effects=tuple(effects), text=text)  # fmt: skip


def explain(catalogue: Catalogue, current: Policy, candidate: Policy, shape: TrafficShape) -> list[Explanation]:
    """Every difference of the candidate, the ones that move the most traffic first (then by entity and field)."""
    found: list[Explanation] = []
    for name, spec in sorted(catalogue.entities.items()):
        for pair in spec.fields:
            before, after = effective_direction(pair, current, name), effective_direction(pair, candidate, name)
            if before != after:
                found.append(_direction(name, pair.key, before, after, shape))
        rule_before, rule_after = current.conflict_rule(name), candidate.conflict_rule(name)
        if rule_before != rule_after:
            found.append(Explanation(
                kind="conflict_rule", entity=name, before=str(rule_before), after=str(rule_after),
                text=f"deciding {name} conflicts by `{rule_after}` instead of `{rule_before}` changes only which side "
                     "wins a field edited on both sides; it moves no write of one-sided changes",
            ))  # fmt: skip
    for setting, after_value in candidate.settings.model_dump().items():
        before_value = getattr(current.settings, setting)
        if before_value != after_value:
            found.append(Explanation(
                kind="setting", before=str(before_value), after=str(after_value),
                text=f"setting {setting} from {before_value} to {after_value} changes deletes, attachments or "
                     "tracking only; the test's traffic edits fields, so it does not measure it",
            ))  # fmt: skip
    kinds = ("direction", "conflict_rule", "setting")
    found.sort(key=lambda e: (-e.weight, kinds.index(e.kind), e.entity or "", e.field or ""))
    return found
