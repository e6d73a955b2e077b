"""What the built-in dashboard shows, from scraped samples (pure: no I/O, no clock).

Rates are the counter increase between the newest sample and the oldest one at most `rate_window_s` older;
latency percentiles interpolate the histogram buckets' increase over the whole kept window (Prometheus'
histogram_quantile, in miniature). A counter that went down (a service restarted) counts from zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from services.admin_api.scrape import Sample, Series
from shared.mailbox_health import MailboxHealth

QUANTILES = (0.5, 0.95, 0.99)


class Lag(BaseModel):
    group: str
    messages: int
    seconds: float
    partitions: dict[str, int]


class Latency(BaseModel):
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


class Dashboard(BaseModel):
    at: datetime
    window_s: float  # what the latency percentiles and error counts cover
    rate_window_s: float  # what the rates cover (0 on the first sample: no rate yet)
    services_up: dict[str, bool]
    consumed_per_s: dict[str, float]  # topic -> events per second
    produced_per_s: dict[str, float]
    writes_per_s: dict[str, float]  # "target result" -> per second
    totals: dict[str, float]  # events produced / writes / decisions since the services started
    lag: list[Lag]
    latency: dict[str, Latency]  # direction (to_crm, to_exchange) -> percentiles, seconds
    hops: dict[str, Latency]  # capture, decide, apply
    dead_letters: dict[str, float]  # "service reason" -> in the window
    dead_letters_total: float
    retries: dict[str, float]  # "target status" -> in the window
    failed_writes: float  # in the window
    mailboxes: list[MailboxHealth]


def _delta(new: float, old: float | None) -> float:
    return new if old is None or new < old else new - old


def increases(first: Series, last: Series, name: str, by: Iterable[str]) -> dict[str, float]:
    """Increase of counter `name` between two samples, summed by the labels `by` (joined with a space)."""
    keys = tuple(by)
    found: dict[str, float] = {}
    for (sample, labels), value in last.items():
        if sample != name:
            continue
        label = dict(labels)
        group = " ".join(label.get(k, "") for k in keys)
        found[group] = found.get(group, 0.0) + _delta(value, first.get((sample, labels)))
    return found


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """histogram_quantile over cumulative (upper bound, count) pairs; None without observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank, previous_bound, previous_count = q * buckets[-1][1], 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return previous_bound  # beyond the last finite bucket: its bound is the best said
            share = (rank - previous_count) / (count - previous_count) if count > previous_count else 1.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


def latencies(first: Series, last: Series, name: str, by: str) -> dict[str, Latency]:
    """Percentiles of histogram `name` over the increase between the samples, per value of label `by`."""
    per: dict[str, dict[float, float]] = {}
    for (sample, labels), value in last.items():
        if sample != f"{name}_bucket":
            continue
        label = dict(labels)
        bound = float(label["le"])
        counts = per.setdefault(label.get(by, ""), {})
        counts[bound] = counts.get(bound, 0.0) + _delta(value, first.get((sample, labels)))
    found = {}
    for key, counts in sorted(per.items()):
        buckets = sorted(counts.items())
        p50, p95, p99 = (quantile(q, buckets) for q in QUANTILES)
        found[key] = Latency(count=int(buckets[-1][1]) if buckets else 0, p50=p50, p95=p95, p99=p99)
    return found


def _rounded(values: dict[str, float], seconds: float) -> dict[str, float]:
    return {k: round(v / seconds, 2) for k, v in sorted(values.items())} if seconds > 0 else {}


def build(
    samples: list[Sample], lag: list[Lag], mailboxes: list[MailboxHealth], at: datetime, rate_window_s: float = 15.0
) -> Dashboard:
    """The dashboard of the kept samples (oldest first; at least one)."""
    last = samples[-1]
    oldest = samples[0] if len(samples) > 1 else None
    recent = next((s for s in samples[:-1] if last.at - s.at <= rate_window_s), None)
    first = oldest.series if oldest else {}
    rate_from = recent.series if recent else {}
    rate_s = last.at - recent.at if recent else 0.0
    window_s = last.at - oldest.at if oldest else 0.0
    totals = {
        "events_produced": sum(increases({}, last.series, "fieldsync_events_produced_total", ()).values()),
        "writes": sum(increases({}, last.series, "fieldsync_writes_total", ()).values()),
        "decisions": sum(increases({}, last.series, "fieldsync_decisions_total", ()).values()),
        "conflicts": sum(increases({}, last.series, "fieldsync_conflicts_total", ()).values()),
    }

    def rate(name: str, *by: str) -> dict[str, float]:
        return _rounded(increases(rate_from, last.series, name, by), rate_s)

    writes_in_window = increases(first, last.series, "fieldsync_writes_total", ("target", "result"))
    return Dashboard(
        at=at,
        window_s=round(window_s, 1),
        rate_window_s=round(rate_s, 1),
        services_up=last.up,
        consumed_per_s=rate("fieldsync_events_consumed_total", "topic"),
        produced_per_s=rate("fieldsync_events_produced_total", "topic"),
        writes_per_s=rate("fieldsync_writes_total", "target", "result"),
        totals=totals,
        lag=lag,
        latency=latencies(first, last.series, "fieldsync_sync_latency_seconds", "direction"),
        hops=latencies(first, last.series, "fieldsync_hop_latency_seconds", "hop"),
        dead_letters=increases(first, last.series, "fieldsync_dead_letters_total", ("service", "reason")),
        dead_letters_total=sum(increases({}, last.series, "fieldsync_dead_letters_total", ()).values()),
        retries=increases(first, last.series, "fieldsync_retries_total", ("target", "status")),
        failed_writes=sum(v for k, v in writes_in_window.items() if k.endswith(" failed")),
        mailboxes=mailboxes,
    )
