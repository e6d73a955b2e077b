"""Event models: one envelope for every event on the bus; frozen pydantic v2 models, parsed at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["both", "to_exchange", "to_crm", "none"]
DIRECTIONS: tuple[Direction, ...] = ("both", "to_exchange", "to_crm", "none")
Op = Literal["create", "update", "delete"]
System = Literal["crm", "exchange"]
Origin = Literal["user", "fieldsync"]
# Why a field was not synced to a target (a SyncDecision outcome); None means it was synced.
# "conflict": the field changed on both sides since they last agreed and this side's change lost (sync-semantics 7).
# Security (sync-semantics 2 and 7), each with a sentence in FieldOutcome.detail: "no_privilege" (the mailbox's user
# holds no role privilege for the entity), "no_access" (the privilege's depth and the record's shares do not reach
# the record), "field_security" (a secured field the user may not read, update or create).
Reason = Literal[
    "direction", "fixed", "out_of_scope", "untracked", "echo", "unmapped", "unchanged", "security", "conflict",
    "no_privilege", "no_access", "field_security",
]  # fmt: skip
# "superseded": some fields were not written because the target changed them meanwhile (the delta's `expected`
# value no longer holds); the target's own change reaches the merge point, which decides between the two.
# "denied": CRM refused the write under the acting user's privileges (403); a recorded outcome, never retried.
ApplyResult = Literal["applied", "duplicate", "conflict_resolved", "superseded", "skipped", "failed", "denied"]
# How a field changed on both sides since they last agreed is decided, per entity (sync-semantics 7).
ConflictRule = Literal["latest", "crm_wins", "exchange_wins"]
CONFLICT_RULES: tuple[ConflictRule, ...] = ("latest", "crm_wins", "exchange_wins")
DEFAULT_CONFLICT_RULE: ConflictRule = "latest"
# What one target received from a decision: a write, an unlink (the item stays, only the link goes), or nothing.
Effect = Literal["create", "update", "delete", "unlink"]

# Category-based tracking (sync-semantics 3): Dynamics marks the mailbox items it synchronizes with this
# category; an appointment or task created in Exchange reaches CRM only while it carries it, and removing
# it untracks the item. The exchange_applier puts it on the items it creates, the policy reads it.
TRACKING_CATEGORY = "Tracked to Dynamics 365"
# Every activity is tracked (phone calls, letters and faxes as tasks, service activities as calendar items); an
# unlinked item reaches CRM as its folder's own entity only (appointment, task): never contacts.
TRACKABLE: frozenset[str] = frozenset(
    {"appointment", "task", "phonecall", "letter", "fax", "serviceappointment", "recurringappointmentmaster"}
)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Frozen):
    system: System
    position: str | None = None  # the cursor (delta link, sync state) the change was read at


class Envelope(Frozen):
    """What every event carries: identity, timing, source, the item's ids and the changed fields."""

    event_id: str
    event_type: str
    schema_version: int = 1
    occurred_at: datetime  # when the source modified the item
    captured_at: datetime
    source: Source
    entity: str
    op: Op
    crm_id: str | None = None
    mailbox: str | None = None
    exchange_id: str | None = None
    changed: dict[str, Any] = Field(default_factory=dict)  # field key (CRM logical name) -> new value
    origin: Origin = "user"
    causation_id: str | None = None  # the event this one was caused by


class ItemChanged(Envelope):
    """A create, update or delete seen by a capture service; `changed` holds only changed fields."""

    event_type: Literal["ItemChanged"] = "ItemChanged"
    version: str | None = None  # versionnumber (CRM) or ChangeKey (Exchange) after the change
    # The value each changed field held on this side before the change, as the capture last saw it (fieldsync's
    # own writes included); absent for a field it never saw. The merge point tells a change made on top of the
    # last agreed value from one made concurrently with the other side's change by it.
    previous: dict[str, Any] = Field(default_factory=dict)
    # Values needed to decide scope and tracking but not synced themselves: owner, state, categories.
    context: dict[str, Any] = Field(default_factory=dict)


class ItemDelta(Envelope):
    """What one target must write: only the fields the policy let through for that target."""

    event_type: Literal["ItemDelta"] = "ItemDelta"
    target: System
    policy_version: int
    decided_at: datetime
    source_version: str | None = None
    # With op "delete": the target keeps its item and only drops the link (a delete the tables withhold,
    # e.g. a CRM contact deleted while its owner keeps the Outlook copy).
    keep_item: bool = False
    # Per field, the value the merge point believes the target holds now: the field is written only while the
    # target still holds it (or already holds the new value); otherwise the target changed it meanwhile and
    # that change is on its way to the merge point. A field absent here is written whatever the target holds.
    expected: dict[str, Any] = Field(default_factory=dict)
    # CRM deltas: the systemuserid the write acts as (MSCRMCallerID), the mailbox's user, so that CRM enforces that
    # user's privileges; None acts as the service principal.
    acting_user: str | None = None


class FieldOutcome(Frozen):
    field: str
    target: System
    mailbox: str | None = None
    synced: bool
    reason: Reason | None = None
    detail: str | None = None  # the reason in one sentence where it needs one (the security reasons)


class TargetNote(Frozen):
    """What one target (CRM, or one mailbox) received from a decision and why: explains withheld deletes too."""

    target: System
    mailbox: str | None = None
    effect: Effect | None = None  # None: nothing was sent to this target
    reason: str  # a short code: the op sent, or why it was withheld ("not_organizer", "untracked", ...)
    detail: str | None = None  # the reason in a sentence, for people reading the decision log


class SyncDecision(Envelope):
    """Every field's outcome for one change, per target, with the policy version that decided."""

    event_type: Literal["SyncDecision"] = "SyncDecision"
    policy_version: int
    decided_at: datetime
    outcomes: tuple[FieldOutcome, ...] = ()
    notes: tuple[TargetNote, ...] = ()  # one per target considered, in target order


class DeltaApplied(Envelope):
    """An applier's result for one delta, with the timings from source to target."""

    event_type: Literal["DeltaApplied"] = "DeltaApplied"
    target: System
    result: ApplyResult
    decided_at: datetime
    applied_at: datetime
    written_version: str | None = None
    error: str | None = None


class OrgSettings(Frozen):
    """The organisation's sync settings (sync-semantics 3 and 4), stored and versioned with the policy."""

    # Dynamics' DistinctPhysicalAndLogicalDeletesForExchangeSync: a record that leaves a mailbox's scope (a
    # logical delete) unlinks the mailbox item (it stays, loses the tracking category) instead of deleting it.
    distinct_physical_and_logical_deletes: bool = False
    # The delete table's organisation setting: a task (phone call, letter, fax) deleted in Exchange deletes it in CRM.
    delete_exchange_tasks_in_crm: bool = True
    # Appointment attachments sync only while this is on; otherwise the attachments pair stays `none`.
    sync_appointment_attachments: bool = False
    # Dynamics' TrackCategorizedItems: the tracking category tracks (and untracks) Exchange items.
    track_categorized_items: bool = True


class Policy(Frozen):
    """The organisation-wide sync policy: a direction per entity and field key, with its version."""

    version: int
    updated_at: datetime
    updated_by: str
    directions: dict[str, dict[str, Direction]]
    # entity -> how a field changed on both sides is decided; an entity not named here uses the default.
    conflict_rules: dict[str, ConflictRule] = Field(default_factory=dict)
    settings: OrgSettings = Field(default_factory=OrgSettings)

    def direction(self, entity: str, field: str) -> Direction | None:
        return self.directions.get(entity, {}).get(field)

    def conflict_rule(self, entity: str) -> ConflictRule:
        return self.conflict_rules.get(entity, DEFAULT_CONFLICT_RULE)


class ConflictRecord(Frozen):
    """One field changed on both sides of a linked pair since they last agreed, and how it was decided."""

    conflict_id: str  # deterministic (the change that revealed it, the mailbox, the field): replays record it once
    decided_at: datetime
    entity: str
    crm_id: str
    mailbox: str
    exchange_id: str | None = None
    field: str
    crm_value: Any = None
    exchange_value: Any = None
    crm_modified_at: datetime
    exchange_modified_at: datetime
    rule: ConflictRule
    winner: System
    policy_version: int
    causation_id: str  # the change event that revealed the conflict


class PolicyChanged(Frozen):
    """Published after every policy change: the full new policy, so consumers switch in place."""

    event_id: str
    event_type: Literal["PolicyChanged"] = "PolicyChanged"
    schema_version: int = 1
    occurred_at: datetime
    actor: str
    policy: Policy


class SecurityChanged(Frozen):
    """A change of one row of a security table (roles, ownership, shares, field security) captured from CRM.

    `table` is the Web API entity set the row was read from, `principal` the row's primary key and `row` the row
    as the Web API returns it (`deleted`: the row is gone). crm_capture publishes the rows that changed in one read
    of the tables as one round, numbered `round`, all under one key (one partition, in order); the round's last
    event has `last_in_round`. A CRM change re-published because security changed carries the round in its
    context (`security_round`), so the policy decides it under that round's tables or a later one.
    """

    event_id: str
    event_type: Literal["SecurityChanged"] = "SecurityChanged"
    schema_version: int = 1
    occurred_at: datetime
    principal: str
    table: str
    row: dict[str, Any] = Field(default_factory=dict)
    deleted: bool = False
    round: int = 0
    last_in_round: bool = False
