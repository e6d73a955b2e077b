"""Builders for the policy's unit tests: changes, policies, facts and the decision-table row shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.policy.decide import decide
from services.policy.explanation import notes_for
from services.policy.verdict import TRACKING_CATEGORY, Facts
from shared.catalogue import load_catalogue
from shared.events import ItemChanged, Policy, Source

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FUTURE = {"scheduledstart": "2026-06-02T10:00:00Z", "scheduledend": "2026-06-02T11:00:00Z"}
PAST = {"scheduledstart": "2026-05-01T10:00:00Z", "scheduledend": "2026-05-01T11:00:00Z"}
CATALOGUE = load_catalogue()
ALICE, BOB = "alice@sandbox.local", "bob@sandbox.local"
TRACKED = {"categories": [TRACKING_CATEGORY]}


def policy(**overrides: str) -> Policy:
    """Catalogue defaults with overrides named `entity__field`."""
    directions = CATALOGUE.default_directions()
    for name, direction in overrides.items():
        entity, key = name.split("__")
        directions[entity][key] = direction  # type: ignore[assignment]
    return Policy(version=7, updated_at=NOW, updated_by="test", directions=directions)


def crm(entity: str, op: str, changed: dict[str, Any] | None = None, **context: Any) -> ItemChanged:
    return ItemChanged(
        event_id="e1",
        occurred_at=NOW,
        captured_at=NOW,
        source=Source(system="crm"),
        entity=entity,
        op=op,
        crm_id="r1",
        changed=changed or {},
        context=context,
    )


def exchange(
    entity: str, op: str, changed: dict[str, Any] | None = None, crm_id: str | None = "r1", **ctx: Any
) -> ItemChanged:
    return ItemChanged(
        event_id="e2",
        occurred_at=NOW,
        captured_at=NOW,
        source=Source(system="exchange"),
        entity=entity,
        op=op,
        crm_id=crm_id,
        mailbox=ALICE,
        exchange_id="x1",
        changed=changed or {},
        context=ctx,
    )


def every_field(entity: str) -> dict[str, Any]:
    return {p.key: f"v-{p.key}" for p in CATALOGUE.entities[entity].fields if p.crm_attributes}


@dataclass
class Row:
    name: str
    change: ItemChanged
    writes: list[tuple[str, str | None, str]]  # (target, mailbox, effect) of every write or unlink, in order
    fields: dict[str, list[str]] = field(default_factory=dict)  # "target:mailbox" -> allowed keys (sorted)
    reasons: dict[str, str] = field(default_factory=dict)  # field -> reason (first outcome of that field)
    policy: Policy = field(default_factory=policy)
    facts: Facts = field(default_factory=Facts)
    notes: dict[str, str] = field(default_factory=dict)  # "target:mailbox" -> the note's reason code
    tracking: str | None = None  # what the handler must remember ("untrack", "retrack")


def linked(*mailboxes: str, **values: Any) -> Facts:
    """Links to x-{mailbox} per mailbox; `untracked=(mailbox, ...)` marks those items as untracked."""
    return Facts(
        links={m: f"x-{m}" for m in mailboxes},
        crm_values=values.get("crm", {}),
        exchange_values=values.get("exchange", {}),
        untracked=frozenset(values.get("untracked", ())),
    )


OPEN_TASK = {"status": {"statecode": 0, "statuscode": 2}}
DONE_TASK = {"status": {"statecode": 1, "statuscode": 5}}


def check_row(row: Row) -> None:
    """The writes (target, mailbox, effect) in order, the allowed keys per write, each field's first reason,
    the notes asked for, and the tracking transition."""
    decision = decide(row.change, CATALOGUE.entity(row.change.entity), row.policy, row.facts, NOW)
    assert [(t.target, t.mailbox, t.effect) for t in decision.writes] == row.writes
    assert decision.tracking == row.tracking
    notes = {f"{n.target}:{n.mailbox}": n.reason for n in notes_for(decision)}
    for target_key, reason in row.notes.items():
        assert notes[target_key] == reason, target_key
    for target_key, keys in row.fields.items():
        target, mailbox = target_key.split(":", 1)
        write = next(t for t in decision.writes if t.target == target and t.mailbox == mailbox)
        assert sorted(write.fields) == keys
    reasons: dict[str, Any] = {}
    for outcome in decision.outcomes:
        reasons.setdefault(outcome.field, outcome.reason)
    for key, reason in row.reasons.items():
        assert reasons[key] == reason, key
