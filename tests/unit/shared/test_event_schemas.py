"""Each event model's JSON schema is pinned: a change to a contract shows up here and must be deliberate.

After an intended change, regenerate the pins with FIELDSYNC_UPDATE_SCHEMAS=1 and bump `schema_version`
where consumers must tell the shapes apart.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared import events
from shared.policy_store import ConflictRuleChange, DirectionChange, HistoryEntry

PINS = Path(__file__).with_name("schemas")
MODELS: list[type[BaseModel]] = [
    events.ItemChanged,
    events.ItemDelta,
    events.SyncDecision,
    events.DeltaApplied,
    events.PolicyChanged,
    events.SecurityChanged,
    events.ConflictRecord,
    events.Policy,
    DirectionChange,
    ConflictRuleChange,
    HistoryEntry,
]


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_json_schema_matches_its_pin(model: type[BaseModel]) -> None:
    pin = PINS / f"{model.__name__}.json"
    schema = json.dumps(model.model_json_schema(), indent=1, sort_keys=True) + "\n"
    if os.environ.get("FIELDSYNC_UPDATE_SCHEMAS") == "1":
        pin.write_text(schema, encoding="utf-8")
    assert pin.exists(), f"no pin for {model.__name__}: run with FIELDSYNC_UPDATE_SCHEMAS=1"
    assert json.loads(schema) == json.loads(pin.read_text(encoding="utf-8")), (
        f"{model.__name__}'s schema changed; if intended, regenerate the pins (FIELDSYNC_UPDATE_SCHEMAS=1)"
    )


def test_events_round_trip_through_json() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    change = events.ItemChanged(
        event_id="e1", occurred_at=now, captured_at=now, source=events.Source(system="crm", position="7!x"),
        entity="contact", op="update", crm_id="c1", changed={"telephone1": "+1 555 0100"},
        context={"owner_mailbox": "alice@sandbox.local"},
    )
    assert events.ItemChanged.model_validate_json(change.model_dump_json()) == change
    with pytest.raises(ValueError, match="extra"):
        events.ItemChanged.model_validate({**change.model_dump(), "surprise": 1})
