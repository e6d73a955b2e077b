"""The convergence benchmark's accounting (pure): where every change ended up, duplicate items, conflicts by rule.

Pure: no I/O, no clock. An Inventory is what both sides held at one moment (read by bench/inventory.py):
every CRM record and mailbox item of the entities the traffic changes, and fieldsync's links between them.

A change is *lost* when its value is neither the final value on both sides (in CRM and, as Exchange stores it,
in every mailbox item linked to the record), nor accounted for by a later change of the same field of the same
pair (acknowledged later, on either side), nor named as the loser of a recorded conflict. A conflict over an
echo (measure.echo_conflicts: one side's "value" is fieldsync's own write of the other side's) excuses nothing.

*Duplicates* are counted against the links. In a mailbox folder, an item that no link names and that was not
already there unlinked before the traffic (a second copy, or an item whose link moved to a copy), and every
item beyond the first that a link names for one record; in an entity set, the same for records: one that no
link names and that was not there unlinked before, and every record beyond the first linked to one item.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.measure import echo_conflicts, losers, lost_to
from infra.sandbox.traffic import TrafficChange
from shared.events import ConflictRecord

Values = dict[str, Any]  # canonical field -> value
ExchangeForm = Callable[[str, str, Any], Any]  # (entity, field, value) -> how Exchange stores it


def as_given(_entity: str, _field: str, value: Any) -> Any:
    return value


@dataclass
class Inventory:
    records: dict[str, dict[str, Values]] = field(default_factory=dict)  # entity -> CRM id -> values
    items: dict[tuple[str, str], dict[str, Values]] = field(default_factory=dict)  # (mailbox, entity) -> id -> values
    links: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (entity, CRM id) -> mailbox -> id
    item_links: dict[tuple[str, str], str] = field(default_factory=dict)  # (mailbox, id) -> "entity:CRM id"

    def record_of(self, mailbox: str, exchange_id: str) -> tuple[str, str] | None:
        linked = self.item_links.get((mailbox, exchange_id))
        if linked is None:
            return None
        entity, _, crm_id = linked.partition(":")
        return entity, crm_id

    def exchange_ids(self) -> dict[str, str]:
        """Exchange id -> CRM id of every linked item."""
        return {exchange_id: crm_id for (entity, crm_id), boxes in self.links.items()
                for exchange_id in boxes.values()}


@dataclass(frozen=True)
class Lost:
    change: TrafficChange
    crm_value: Any  # the final values, to see what happened instead
    exchange_values: dict[str, Any]  # mailbox -> value

    def describe(self) -> str:
        c = self.change
        where = f"{c.mailbox} {c.record_id}" if c.side == "exchange" else c.record_id
        return (f"{c.side} {c.entity} {where} {c.field}={c.value!r} acked {c.acked_at.isoformat()}: "
                f"CRM holds {self.crm_value!r}, mailbox {self.exchange_values!r}")


def _slot(change: TrafficChange, final: Inventory) -> tuple[str, ...]:
    if change.side == "crm":
        return (change.entity, change.record_id, change.field)
    record = final.record_of(change.mailbox or "", change.record_id)
    if record is None:  # an unlinked item: only its own side counts
        return ("unlinked", change.mailbox or "", change.record_id, change.field)
    return (*record, change.field)


def _finals(change: TrafficChange, final: Inventory) -> tuple[Any, dict[str, Any]]:
    """The record's final value and each linked item's (None where missing)."""
    if change.side == "exchange" and final.record_of(change.mailbox or "", change.record_id) is None:
        held = final.items.get((change.mailbox or "", change.entity), {}).get(change.record_id, {})
        return None, {change.mailbox or "": held.get(change.field)}
    entity, crm_id = (change.entity, change.record_id) if change.side == "crm" else \
        final.record_of(change.mailbox or "", change.record_id) or ("", "")
    crm = final.records.get(entity, {}).get(crm_id, {}).get(change.field)
    boxes = final.links.get((entity, crm_id), {})
    items = {box: final.items.get((box, entity), {}).get(x, {}).get(change.field) for box, x in boxes.items()}
    return crm, items


@dataclass(frozen=True)
class Outcomes:
    """How every change ended: final on both sides, superseded by a later change, lost a conflict, or lost."""

    final: int = 0
    superseded: int = 0
    conflict: int = 0
    lost: tuple[Lost, ...] = ()


def outcomes(changes: Sequence[TrafficChange], final: Inventory, conflicts: Iterable[ConflictRecord],
             exchange_form: ExchangeForm = as_given) -> Outcomes:
    """Where each change ended up (see the module docstring); the lost ones in the order they were made."""
    last_ack: dict[tuple[str, ...], Any] = {}
    for change in changes:
        slot = _slot(change, final)
        last_ack[slot] = max(last_ack.get(slot, change.acked_at), change.acked_at)
    conflicts = list(conflicts)
    echoes = {id(c) for c in echo_conflicts(changes, conflicts)}
    by_loser, links = losers(c for c in conflicts if id(c) not in echoes), final.exchange_ids()
    counts: Counter[str] = Counter()
    lost = []
    for change in changes:
        crm, items = _finals(change, final)
        unlinked = _slot(change, final)[0] == "unlinked"
        stored = exchange_form(change.entity, change.field, change.value)
        if (unlinked or crm == change.value) and all(value == stored for value in items.values()):
            counts["final"] += 1
        elif last_ack[_slot(change, final)] > change.acked_at:
            counts["superseded"] += 1
        elif lost_to(change, by_loser, links) is not None:
            counts["conflict"] += 1
        else:
            lost.append(Lost(change, crm, items))
    return Outcomes(counts["final"], counts["superseded"], counts["conflict"], tuple(lost))


@dataclass(frozen=True)
class Duplicates:
    items: int
    records: int
    examples: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.items + self.records


def _unlinked_items(inventory: Inventory, mailbox: str, entity: str) -> set[str]:
    return {x for x in inventory.items.get((mailbox, entity), {}) if (mailbox, x) not in inventory.item_links}


def _unlinked_records(inventory: Inventory, entity: str) -> set[str]:
    return {r for r in inventory.records.get(entity, {}) if not inventory.links.get((entity, r))}


def duplicates(baseline: Inventory, final: Inventory) -> Duplicates:
    """Items and records beyond one per link (see the module docstring), with a few examples."""
    examples: list[str] = []
    items = records = 0
    for mailbox, entity in sorted(final.items):
        extra = _unlinked_items(final, mailbox, entity) - _unlinked_items(baseline, mailbox, entity)
        items += len(extra)
        examples += [f"{mailbox} {entity} item {x}: no link names it" for x in sorted(extra)]
    for record, count in Counter((box, linked) for (box, _), linked in final.item_links.items()).items():
        if count > 1:
            items += count - 1
            examples.append(f"{record[0]}: {count} items linked to {record[1]}")
    for entity in sorted(final.records):
        extra = _unlinked_records(final, entity) - _unlinked_records(baseline, entity)
        records += len(extra)
        examples += [f"{entity} record {r}: linked to no item" for r in sorted(extra)]
    naming: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (entity, crm_id), boxes in final.links.items():
        for box, exchange_id in boxes.items():
            naming[(box, exchange_id)].append(f"{entity}:{crm_id}")
    for (box, exchange_id), named in sorted(naming.items()):
        if len(named) > 1:
            records += len(named) - 1
            examples.append(f"{box} item {exchange_id}: {len(named)} records linked to it ({', '.join(named)})")
    return Duplicates(items, records, tuple(examples[:10]))


def conflict_tally(conflicts: Iterable[ConflictRecord]) -> dict[str, int]:
    """'<rule>: <winner> won' -> how many conflicts were decided so."""
    return dict(sorted(Counter(f"{c.rule}: {c.winner} won" for c in conflicts).items()))
