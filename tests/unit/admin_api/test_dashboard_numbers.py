"""The dashboard's pure numbers: counter increases and rates, histogram percentiles, and consumer lag rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka import TopicPartition

from services.admin_api.dashboard import build, increases, quantile
from services.admin_api.lag import Stamps, group_lag
from services.admin_api.scrape import Sample, Series, parse
from shared.metrics import Metrics

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _series(metrics: Metrics) -> Series:
    from prometheus_client import generate_latest

    found: Series = {}
    parse(generate_latest(metrics.registry).decode(), found)
    return found


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 0.5), (0.25, 0.25), (0.99, 0.99), (1.0, 1.0)],
)
def test_quantile_interpolates_within_a_bucket(q: float, expected: float) -> None:
    # 100 observations spread evenly in (0, 1]: one bucket, linear inside it
    assert quantile(q, [(1.0, 100.0), (float("inf"), 100.0)]) == pytest.approx(expected)


def test_quantile_without_observations_is_none_and_beyond_the_last_bound_is_that_bound() -> None:
    assert quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.99, [(1.0, 1.0), (float("inf"), 100.0)]) == 1.0


def test_increases_sum_by_labels_and_a_reset_counter_counts_from_zero() -> None:
    first = {("c_total", (("a", "x"), ("b", "1"))): 5.0, ("c_total", (("a", "x"), ("b", "2"))): 10.0}
    last = {("c_total", (("a", "x"), ("b", "1"))): 8.0, ("c_total", (("a", "x"), ("b", "2"))): 4.0}
    assert increases(first, last, "c_total", ("a",)) == {"x": 3.0 + 4.0}


def test_build_gives_rates_over_the_recent_samples_and_percentiles_over_the_window() -> None:
    metrics = Metrics()
    before = _series(metrics)
    for _ in range(10):
        metrics.wrote("crm", "applied")
        metrics.synced("to_crm", "contact", 0.3)
    metrics.dead_lettered("crm_applier", "refused")
    after = _series(metrics)
    view = build([Sample(100.0, before, {"policy": True}), Sample(110.0, after, {"policy": True})], [], [], AT)
    assert view.writes_per_s == {"crm applied": 1.0}
    assert view.totals["writes"] == 10
    assert view.latency["to_crm"].count == 10
    assert 0.25 <= (view.latency["to_crm"].p50 or 0) <= 0.5
    assert view.dead_letters == {"crm_applier refused": 1.0}
    assert view.rate_window_s == 10.0


def test_the_first_sample_has_no_rate_yet() -> None:
    metrics = Metrics()
    metrics.wrote("exchange", "applied")
    view = build([Sample(1.0, _series(metrics), {})], [], [], AT)
    assert view.writes_per_s == {}
    assert view.totals["writes"] == 1


TP0, TP1 = TopicPartition("fieldsync.deltas.crm", 0), TopicPartition("fieldsync.deltas.crm", 1)


def _stamps(*pairs: tuple[int, float]) -> Stamps:
    stamps = Stamps()
    for offset, at in pairs:
        stamps.add(offset, at)
    return stamps


def test_lag_is_the_high_watermark_minus_the_commit_and_its_age_the_oldest_uncommitted_record() -> None:
    stamps = {TP0: _stamps((0, 10.0), (1, 20.0), (2, 30.0)), TP1: _stamps((0, 25.0))}
    lag = group_lag("g", {TP0: 3, TP1: 1}, {TP0: 1, TP1: 1}, stamps, now=50.0)
    assert lag.messages == 2
    assert lag.partitions == {"fieldsync.deltas.crm[0]": 2, "fieldsync.deltas.crm[1]": 0}
    assert lag.seconds == 30.0  # the record at offset 1, made at 20


def test_no_lag_is_zero_seconds_and_a_missing_commit_counts_from_the_start() -> None:
    stamps = {TP0: _stamps((0, 10.0))}
    assert group_lag("g", {TP0: 1}, {TP0: 1}, stamps, now=99.0).seconds == 0.0
    never = group_lag("g", {TP0: 1}, {}, stamps, now=99.0)
    assert (never.messages, never.seconds) == (1, 89.0)


def test_stamps_prune_below_a_commit_and_ignore_refetched_offsets() -> None:
    stamps = _stamps((0, 1.0), (1, 2.0), (2, 3.0))
    stamps.add(1, 9.0)
    stamps.prune_below(2)
    assert (stamps.offsets, stamps.times) == ([2], [3.0])
    assert stamps.oldest_from(5) == 3.0  # not read yet: the newest known, a lower bound on the age
