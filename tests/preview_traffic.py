"""A small recorded window for the preview's unit tests: contact changes on both sides, one a conflict."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.policy.merge import FieldState
from services.policy.replay import entry_of
from services.policy.verdict import Facts
from shared.change_window import SecurityFacts, WindowEntry
from shared.events import ItemChanged
from tests.policy_builders import ALICE, NOW, crm, exchange, linked

EARLIER = NOW - timedelta(seconds=5)
STATE = {("contact", "r1", ALICE): {"telephone1": FieldState("2", EARLIER, "crm", {"crm": "2"})}}


def mine(changed: dict[str, Any], event_id: str = "e1", **context: Any) -> ItemChanged:
    context = {"owner_mailbox": ALICE, "statecode": 0, **context}
    return crm("contact", "update", changed, **context).model_copy(update={"event_id": event_id})


def outlook(changed: dict[str, Any], event_id: str = "e2", **previous: Any) -> ItemChanged:
    return exchange("contact", "update", changed).model_copy(update={"event_id": event_id, "previous": previous})


def recorded(change: ItemChanged, facts: Facts | None = None, states: Any = None) -> WindowEntry:
    return entry_of(change, facts or linked(ALICE), states or {}, SecurityFacts(), 7, NOW)


def window(*changes: ItemChanged) -> list[WindowEntry]:
    return [recorded(c, states=STATE if c.source.system == "exchange" else None) for c in changes]


TRAFFIC = window(mine({"description": "d"}, "c1"), mine({"telephone1": "1"}, "c2"), mine({"description": "x"}, "c3"),
                 outlook({"description": "o"}, "x1"), outlook({"telephone1": "9"}, "x2", telephone1="1"))  # fmt: skip
