"""The sync-time test's arithmetic (infra/policytest/report.py): samples by value, percentiles, rows, the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.policytest.report import Sample, latency, phase, rows, samples, verdict
from infra.sandbox.traffic import TrafficChange
from shared.events import DeltaApplied, Source

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def change(side: str, entity: str, value: str, acked_s: float) -> TrafficChange:
    at = T0 + timedelta(seconds=acked_s)
    return TrafficChange(side, entity, "r1", None, "subject", value, at, at, at)


def applied(target: str, value: str, applied_s: float, result: str = "applied") -> DeltaApplied:
    at = T0 + timedelta(seconds=applied_s)
    return DeltaApplied(event_id=f"a{value}{applied_s}", occurred_at=T0, captured_at=T0, source=Source(system="crm"),
                        entity="task", op="update", changed={"subject": value}, target=target, result=result,  # type: ignore[arg-type]
                        decided_at=at, applied_at=at)  # fmt: skip


def test_a_change_is_sampled_by_its_value_on_the_other_side_from_its_ack() -> None:
    made = [change("crm", "task", "subject x-1", 1.0), change("exchange", "task", "subject x-2", 2.0)]
    events = [
        applied("exchange", "subject x-1", 1.8),
        applied("exchange", "subject x-1", 1.5),  # the earliest write counts
        applied("exchange", "subject x-2", 2.2),  # the same side it was made on: not its delivery
        applied("crm", "subject x-2", 3.0, result="failed"),  # nothing written
        applied("crm", "subject other", 3.0),  # not a change of this run
    ]
    assert samples(made, events) == [Sample(flow="crm_to_exchange", entity="task", sync_s=0.5)]


def test_a_superseded_delta_still_delivered_its_other_fields() -> None:
    made = [change("exchange", "task", "subject y", 0.0)]
    assert samples(made, [applied("crm", "subject y", 0.25, result="superseded")]) == [
        Sample(flow="exchange_to_crm", entity="task", sync_s=0.25)]


def test_percentiles_of_one_and_of_many() -> None:
    assert latency([]) is None
    one = latency([0.4])
    assert one is not None and (one.p50_s, one.p99_s, one.max_s, one.count) == (0.4, 0.4, 0.4, 1)
    many = latency([i / 100 for i in range(1, 101)])  # 0.01 .. 1.00
    assert many is not None and (many.p50_s, many.p95_s, many.p99_s, many.max_s) == pytest.approx(
        (0.505, 0.9505, 0.9901, 1.0), abs=1e-3)


def test_rows_by_flow_then_entity() -> None:
    found = [Sample(flow="crm_to_exchange", entity="task", sync_s=1.0),
             Sample(flow="crm_to_exchange", entity="contact", sync_s=2.0),
             Sample(flow="exchange_to_crm", entity="task", sync_s=3.0)]  # fmt: skip
    assert [(r.flow, r.entity, r.latency.count) for r in rows(found)] == [
        ("crm_to_exchange", "all", 2), ("crm_to_exchange", "contact", 1), ("crm_to_exchange", "task", 1),
        ("exchange_to_crm", "all", 1), ("exchange_to_crm", "task", 1),
    ]


def test_a_phase_counts_what_did_not_sync_and_its_throughput() -> None:
    found = [Sample(flow="crm_to_exchange", entity="task", sync_s=0.5)] * 8
    report = phase("candidate", 4, 10, found, 5.0, ["crm x: boom"])
    assert (report.changes_synced, report.not_synced, report.throughput_per_s, report.errors) == (8, 2, 1.6, 1)
    assert report.error_examples == ["crm x: boom"] and report.overall is not None


@pytest.mark.parametrize(("candidate_s", "errors", "outcome"), [
    ([0.5, 1.9], [], "pass"),
    ([0.5, 2.5], [], "fail"),
    ([0.5], ["dead letter: x"], "fail"),
    ([], [], "no_data"),
])  # fmt: skip
def test_the_verdict_is_the_candidates_p99_against_the_target(candidate_s: list[float], errors: list[str],
                                                              outcome: str) -> None:  # fmt: skip
    current = phase("current", 3, 2, [Sample(flow="crm_to_exchange", entity="task", sync_s=1.0)] * 2, 1.0, [])
    found = [Sample(flow="crm_to_exchange", entity="task", sync_s=s) for s in candidate_s]
    result = verdict(current, phase("candidate", 4, 2, found, 1.0, errors), 2.0)
    assert result.outcome == outcome and result.target_p99_s == 2.0
    if outcome != "no_data":
        assert "(current: 1.00s)" in result.text
