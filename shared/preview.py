"""The preview's contract: what the admin API asks the policy service to replay, and the report it gets back.

The admin API builds the candidate policy (the current one with the requested changes) and sends both policies;
the policy service replays the change window (shared.change_window) through its pure rules under each and answers
with a PreviewReport; the CLI renders it. Per-field outcomes and target notes are the decision log's own
(FieldOutcome, TargetNote: what explain shows), so a sample reads like an explained decision under two policies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events import Effect, FieldOutcome, Frozen, Op, Policy, System, TargetNote

Way = Literal["to_exchange", "to_crm"]  # the direction a write goes: to a mailbox, or to CRM
SAMPLE_SIZE = 10


def way_of(target: System) -> Way:
    return "to_exchange" if target == "exchange" else "to_crm"


class ReplayRequest(Frozen):
    """Replay the window under `current` and `candidate` (the admin API sends both: it owns the policy store)."""

    current: Policy
    candidate: Policy
    sample_size: int = Field(default=SAMPLE_SIZE, ge=0, le=100)


class FlowChange(Frozen):
    """How many recorded changes of `entity` would newly write `field` in direction `way`, or stop writing it."""

    entity: str
    field: str
    way: Way
    starts: int = 0
    stops: int = 0


class ItemMove(Frozen):
    """A target whose effect differs: an item entering (create) or leaving (delete, unlink) a mailbox or CRM."""

    event_id: str
    entity: str
    crm_id: str | None = None
    target: System
    mailbox: str | None = None
    exchange_id: str | None = None
    current: Effect | None = None
    candidate: Effect | None = None


class TargetOutcome(Frozen):
    """One target of one change under one policy: its effect, note and the changed fields' outcomes."""

    note: TargetNote
    outcomes: tuple[FieldOutcome, ...] = ()


class Sample(Frozen):
    """One affected change, and what each of its targets received under the current and the candidate policy."""

    event_id: str
    entity: str
    side: System  # where the change was made
    op: Op
    crm_id: str | None = None
    mailbox: str | None = None
    exchange_id: str | None = None
    occurred_at: datetime
    decided_at: datetime
    current: tuple[TargetOutcome, ...] = ()
    candidate: tuple[TargetOutcome, ...] = ()


class Explanation(Frozen):
    """Which change of the candidate explains a difference, in one sentence, with its figures."""

    change: str  # "contact.description: to_exchange -> both", "appointment conflicts: latest -> crm_wins", ...
    sentence: str
    entity: str | None = None
    changes: int = 0  # recorded changes of the entity it makes a difference to
    share: float = 0.0  # of the entity's recorded changes


class WindowSummary(Frozen):
    entries: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    by_entity: dict[str, int] = Field(default_factory=dict)
    by_side: dict[str, int] = Field(default_factory=dict)


class PreviewReport(Frozen):
    """What the candidate would change against the recorded traffic; nothing was published or written."""

    current_version: int
    window: WindowSummary = Field(default_factory=WindowSummary)
    differing: int = 0  # recorded changes whose decision differs at all
    flows: tuple[FlowChange, ...] = ()
    entering: int = 0  # targets that would receive a create they do not now (mailbox items, CRM records)
    leaving: int = 0  # targets that would receive a delete or unlink they do not now
    not_entering: int = 0  # targets that receive a create now and would not
    not_leaving: int = 0  # targets that receive a delete or unlink now and would not
    moves: tuple[ItemMove, ...] = ()  # the first of them
    samples: tuple[Sample, ...] = ()  # the newest differing changes
    explanations: tuple[Explanation, ...] = ()

    @property
    def no_difference(self) -> bool:
        return self.differing == 0
