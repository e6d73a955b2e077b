"""The shape of traffic: which entities change on which side, and which fields each change carries (pure).

A sync-time test (infra/policytest) drives its isolated stack with traffic shaped like the running stack's recent
changes: `from_window` counts the change window's updates per side and entity, and per field the updates that
carried it (creates and deletes are left out: the generator edits fields of existing records). With an empty
window, `DEFAULT` stands in: half the changes on each side, contacts 40 %, appointments and tasks 30 % each, every
field the traffic generator can change equally often. The generator (traffic.py) picks each change's entity and
field with `pick` under these weights, among what it can change.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import Field

from shared.change_window import WindowEntry
from shared.events import Frozen, System


class ShapeRow(Frozen):
    """The changes of one entity made on one side, and per field how many of them carried it."""

    side: System
    entity: str
    changes: int = Field(ge=0)
    fields: dict[str, int] = Field(default_factory=dict)


class TrafficShape(Frozen):
    rows: tuple[ShapeRow, ...] = ()
    source: Literal["window", "default"] = "default"
    rate_per_s: float | None = Field(default=None, description="The recorded changes' rate over their time span")

    @property
    def total(self) -> int:
        return sum(row.changes for row in self.rows)

    @property
    def crm_share(self) -> float:
        """The share of changes made on the CRM side (0.5 when there are none)."""
        total = self.total
        return sum(r.changes for r in self.rows if r.side == "crm") / total if total else 0.5

    def entity_changes(self, entity: str) -> int:
        return sum(row.changes for row in self.rows if row.entity == entity)

    def entity_weights(self, side: System) -> dict[str, float]:
        return {row.entity: float(row.changes) for row in self.rows if row.side == side}

    def field_weights(self, side: System, entity: str) -> dict[str, float]:
        row = next((r for r in self.rows if r.side == side and r.entity == entity), None)
        return {} if row is None else {key: float(count) for key, count in row.fields.items()}

    def field_share(self, side: System, entity: str, field: str) -> float:
        """Of all the entity's changes (both sides), the share made on `side` that carried `field`."""
        total = self.entity_changes(entity)
        return self.field_weights(side, entity).get(field, 0.0) / total if total else 0.0


def from_window(entries: Iterable[WindowEntry]) -> TrafficShape:
    """The shape of the recorded changes; rows sorted by side and entity."""
    changes: Counter[tuple[System, str]] = Counter()
    fields: dict[tuple[System, str], Counter[str]] = {}
    times = []
    for entry in entries:
        if entry.change.op != "update":
            continue  # the generator edits fields: a create's or delete's fields are no edit to reproduce
        times.append(entry.decided_at)
        key = (entry.change.source.system, entry.change.entity)
        changes[key] += 1
        fields.setdefault(key, Counter()).update(entry.change.changed.keys())
    rows = tuple(
        ShapeRow(side=side, entity=entity, changes=count, fields=dict(sorted(fields[(side, entity)].items())))
        for (side, entity), count in sorted(changes.items())
    )
    span = (max(times) - min(times)).total_seconds() if times else 0.0
    return TrafficShape(rows=rows, source="window", rate_per_s=round(len(times) / span, 3) if span > 0 else None)


def _row(side: System, entity: str, changes: int, keys: Sequence[str]) -> ShapeRow:
    return ShapeRow(side=side, entity=entity, changes=changes, fields={key: changes // len(keys) for key in keys})


DEFAULT = TrafficShape(
    rows=(
        _row("crm", "appointment", 30, ("description", "location", "subject")),
        _row("crm", "contact", 40, ("department", "description", "jobtitle", "nickname", "telephone1")),
        _row("crm", "task", 30, ("description", "subject")),
        _row("exchange", "appointment", 30, ("location", "subject")),
        _row("exchange", "contact", 40, ("department", "jobtitle", "nickname")),
        _row("exchange", "task", 30, ("subject",)),
    ),
    source="default",
)


def shape_or_default(entries: Sequence[WindowEntry]) -> TrafficShape:
    """The window's shape, or DEFAULT when the window holds no change."""
    shape = from_window(entries)
    return shape if shape.total else DEFAULT


def pick(rng: random.Random, weights: Mapping[str, float], options: Sequence[str]) -> str:
    """One of `options`, weighted by `weights` (options it does not weigh count 0); uniform when none weighs."""
    chosen = [weights.get(option, 0.0) for option in options]
    if sum(chosen) <= 0:
        return rng.choice(list(options))
    return rng.choices(list(options), weights=chosen)[0]
