"""The traffic shape (infra/sandbox/traffic_shape.py): counted from the window, the default, the weighted pick."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.sandbox.traffic_shape import DEFAULT, TrafficShape, from_window, pick, shape_or_default
from shared.change_window import WindowEntry
from shared.events import ItemChanged, Source

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def entry(side: str, entity: str, changed: dict[str, Any], at_s: float = 0.0, op: str = "update") -> WindowEntry:
    change = ItemChanged(event_id=f"e{at_s}", occurred_at=T0, captured_at=T0, source=Source(system=side),  # type: ignore[arg-type]
                         entity=entity, op=op, crm_id="r1", changed=changed)  # type: ignore[arg-type]
    return WindowEntry(change=change, decided_at=T0 + timedelta(seconds=at_s), policy_version=3)


def test_the_window_is_counted_per_side_entity_and_field() -> None:
    shape = from_window([
        entry("crm", "contact", {"description": "a", "jobtitle": "b"}, 0),
        entry("crm", "contact", {"description": "c"}, 1),
        entry("exchange", "contact", {"description": "d"}, 2),
        entry("exchange", "task", {"subject": "e"}, 4),
    ])  # fmt: skip
    assert shape.source == "window" and shape.total == 4
    assert [(r.side, r.entity, r.changes, r.fields) for r in shape.rows] == [
        ("crm", "contact", 2, {"description": 2, "jobtitle": 1}),
        ("exchange", "contact", 1, {"description": 1}),
        ("exchange", "task", 1, {"subject": 1}),
    ]
    assert shape.crm_share == 0.5
    assert shape.rate_per_s == 1.0  # 4 changes over 4 seconds
    assert shape.field_share("exchange", "contact", "description") == 1 / 3  # 1 of the 3 contact changes
    assert shape.field_share("crm", "contact", "jobtitle") == 1 / 3
    assert shape.field_share("crm", "task", "subject") == 0.0
    assert shape.field_share("crm", "letter", "subject") == 0.0  # no change of the entity at all


def test_creates_and_deletes_are_no_field_edits_to_reproduce() -> None:
    shape = from_window([entry("crm", "contact", {"fullname": "x", "jobtitle": "y"}, op="create"),
                         entry("crm", "contact", {}, op="delete")])  # fmt: skip
    assert shape.total == 0 and shape.rate_per_s is None
    assert shape_or_default([entry("crm", "contact", {"fullname": "x"}, op="create")]) == DEFAULT


def test_an_empty_window_gives_the_default_shape() -> None:
    assert shape_or_default([]) is DEFAULT
    assert DEFAULT.source == "default" and DEFAULT.crm_share == 0.5
    shares = {entity: DEFAULT.entity_changes(entity) / DEFAULT.total for entity in ("contact", "appointment", "task")}
    assert shares == {"contact": 0.4, "appointment": 0.3, "task": 0.3}


def test_a_window_shape_is_kept_when_it_has_changes() -> None:
    shape = shape_or_default([entry("exchange", "task", {"subject": "s"})])
    assert shape.source == "window" and shape.crm_share == 0.0


def test_pick_follows_the_weights_and_never_picks_a_zero_weight() -> None:
    rng = random.Random(1)
    picks = [pick(rng, {"a": 3.0, "b": 1.0, "c": 0.0}, ["a", "b", "c"]) for _ in range(4000)]
    assert "c" not in picks
    assert 0.7 < picks.count("a") / len(picks) < 0.8


def test_pick_is_uniform_when_nothing_offered_is_weighed() -> None:
    rng = random.Random(2)
    picks = {pick(rng, {"x": 5.0}, ["a", "b"]) for _ in range(200)}
    assert picks == {"a", "b"}


def test_pick_is_the_same_for_the_same_seed() -> None:
    weights = {"a": 1.0, "b": 2.0}
    first = [pick(random.Random(7), weights, ["a", "b"]) for _ in range(3)]
    assert first == [pick(random.Random(7), weights, ["a", "b"]) for _ in range(3)]
    assert TrafficShape().crm_share == 0.5


async def test_the_generator_picks_entities_and_fields_by_the_shape() -> None:
    from infra.sandbox.seed import SandboxClientSettings
    from infra.sandbox.traffic_crm import CrmSide, CrmTarget

    side = CrmSide(SandboxClientSettings())
    side.targets = [CrmTarget("contacts", f"c{i}", None) for i in range(3)] + [CrmTarget("tasks", "t1", None)]
    made: list[tuple[str, str]] = []

    async def write(target: CrmTarget, field: str, value: object) -> Any:
        made.append((target.entity_set, field))
        return "x", target.record_id, None, field, value, None

    side.write = write  # type: ignore[method-assign]
    shape = from_window([entry("crm", "task", {"description": "d"})] * 3 + [entry("crm", "contact", {"nickname": "n"})])
    rng = random.Random(5)
    for i in range(400):
        await side.change(rng, f"l{i}", shape)
    tasks = [field for entity_set, field in made if entity_set == "tasks"]
    assert 0.68 < len(tasks) / len(made) < 0.82  # 3 of 4 changes are tasks, although 1 of 4 records is
    assert set(tasks) == {"description"} and {f for s, f in made if s == "contacts"} == {"nickname"}
