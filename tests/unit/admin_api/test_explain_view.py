"""Explain's pure assembly: every reason with its sentence, the applier results joined by delta id, conflicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.admin_api.explain import REASONS, SYNCED, explain
from shared.event_ids import decision_id, delta_id
from shared.events import ConflictRecord, DeltaApplied, FieldOutcome, Reason, Source, SyncDecision, TargetNote

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAILBOX = "alice@sandbox.local"


def decision(
    outcomes: list[FieldOutcome], notes: list[TargetNote], *, system: str = "crm", at: datetime = T0,
    mailbox: str | None = None, change: str | None = None,
) -> SyncDecision:
    change = change or str(uuid.uuid4())
    return SyncDecision(
        event_id=decision_id(change), occurred_at=at, captured_at=at, source=Source(system=system),  # type: ignore[arg-type]
        entity="contact", op="update", crm_id="c-1", mailbox=mailbox, causation_id=change, policy_version=7,
        decided_at=at, outcomes=tuple(outcomes), notes=tuple(notes),
    )


def applied(of: SyncDecision, target: str, mailbox: str | None, result: str, **extra: Any) -> DeltaApplied:
    return DeltaApplied(
        event_id=str(uuid.uuid4()), occurred_at=of.occurred_at, captured_at=of.captured_at,
        source=Source(system=target), entity="contact", op="update", crm_id="c-1", mailbox=mailbox,  # type: ignore[arg-type]
        origin="fieldsync", causation_id=delta_id(of.causation_id or "", target, mailbox),  # type: ignore[arg-type]
        target=target, result=result, decided_at=of.decided_at,  # type: ignore[arg-type]
        applied_at=of.decided_at + timedelta(seconds=1), **extra,
    )


def outcome(field: str, reason: Reason | None, detail: str | None = None) -> FieldOutcome:
    return FieldOutcome(field=field, target="exchange", mailbox=MAILBOX, synced=reason is None, reason=reason,
                        detail=detail)


NOTE = TargetNote(target="exchange", mailbox=MAILBOX, effect="update", reason="update", detail="written")


@pytest.mark.parametrize(
    "reason", ["direction", "fixed", "out_of_scope", "untracked", "echo", "unmapped", "conflict", "security"]
)
def test_each_reason_a_field_did_not_sync_is_shown_with_its_sentence(reason: Reason) -> None:
    made = decision([outcome("jobtitle", None), outcome("nickname", reason)], [NOTE])
    [change] = explain([made], [], [])
    assert [(f.field, f.synced, f.reason, f.sentence) for f in change.fields] == [
        ("jobtitle", True, None, SYNCED), ("nickname", False, reason, REASONS[reason]),
    ]
    assert (change.policy_version, change.source, change.change_id) == (7, "crm", made.causation_id)


@pytest.mark.parametrize("reason", ["no_privilege", "no_access", "field_security"])
def test_a_security_reason_shows_the_decisions_own_sentence(reason: Reason) -> None:
    sentence = f"bob holds no read privilege on contact ({reason})"
    [change] = explain([decision([outcome("jobtitle", reason, sentence)], [NOTE])], [], [])
    assert [(f.reason, f.sentence) for f in change.fields] == [(reason, sentence)]
    [without] = explain([decision([outcome("jobtitle", reason)], [NOTE])], [], [])
    assert without.fields[0].sentence == REASONS[reason]


def test_unchanged_fields_are_left_out_and_the_field_filter_keeps_changes_that_touched_it() -> None:
    old = decision([outcome("jobtitle", None), outcome("nickname", "unchanged")], [NOTE], at=T0)
    new = decision([outcome("nickname", "direction"), outcome("jobtitle", "unchanged")], [NOTE],
                   at=T0 + timedelta(minutes=1))
    assert [c.fields[0].field for c in explain([old, new], [], [])] == ["nickname", "jobtitle"]  # newest first
    [only] = explain([old, new], [], [], field="jobtitle")
    assert only.change_id == old.causation_id and [f.field for f in only.fields] == ["jobtitle"]


def test_applier_results_join_their_decision_by_the_delta_id_with_what_was_written_and_why_it_failed() -> None:
    crm_note = TargetNote(target="crm", mailbox=None, effect="update", reason="update")
    made = decision([outcome("jobtitle", None)], [NOTE, crm_note], system="exchange", mailbox=MAILBOX)
    other = decision([outcome("jobtitle", None)], [NOTE])
    results = [
        applied(made, "exchange", MAILBOX, "applied", changed={"jobtitle": "CTO"}, written_version="ck-2"),
        applied(made, "crm", MAILBOX, "failed", error="CrmError: CRM 400: writes refused"),
        applied(other, "exchange", MAILBOX, "denied", error="CRM 403"),
    ]
    views = explain([made], results, [], letters={results[1].causation_id or "": "deltas.crm:0:3:ab"})
    [exchange, crm] = views[0].targets
    assert [r.dead_letter for r in crm.results] == ["deltas.crm:0:3:ab"] and exchange.results[0].dead_letter is None
    assert [(r.result, r.written, r.written_version) for r in exchange.results] == [
        ("applied", {"jobtitle": "CTO"}, "ck-2")
    ]
    assert [(r.result, r.sentence) for r in crm.results] == [
        ("failed", "not written: CrmError: CRM 400: writes refused")
    ]


def test_a_conflict_is_shown_with_its_rule_and_winner_for_the_change_that_revealed_it() -> None:
    made = decision([outcome("jobtitle", "conflict")], [NOTE], system="crm")
    record = ConflictRecord(
        conflict_id="k", decided_at=T0, entity="contact", crm_id="c-1", mailbox=MAILBOX, field="jobtitle",
        crm_value="A", exchange_value="B", crm_modified_at=T0, exchange_modified_at=T0, rule="latest",
        winner="exchange", policy_version=7, causation_id=made.causation_id or "",
    )
    [change] = explain([made], [], [record])
    assert [(c.field, c.rule, c.winner, c.crm_value, c.exchange_value) for c in change.conflicts] == [
        ("jobtitle", "latest", "exchange", "A", "B")
    ]
    assert change.fields[0].sentence == REASONS["conflict"]


def test_the_mailbox_filter_keeps_that_mailboxs_outcomes_and_lane_copies_are_merged() -> None:
    change = str(uuid.uuid4())
    bob = FieldOutcome(field="jobtitle", target="exchange", mailbox="bob@x", synced=False, reason="out_of_scope")
    alice_copy = decision([outcome("jobtitle", None)], [NOTE], change=change)
    bob_copy = decision([bob], [], change=change)
    [both] = explain([alice_copy, bob_copy], [], [])
    assert {(f.mailbox, f.reason) for f in both.fields} == {(MAILBOX, None), ("bob@x", "out_of_scope")}
    [bobs] = explain([alice_copy, bob_copy], [], [], mailbox="BOB@x")
    assert [(f.mailbox, f.reason) for f in bobs.fields] == [("bob@x", "out_of_scope")] and bobs.targets == []
