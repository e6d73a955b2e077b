"""Prometheus metrics: one registry per service, injected into its loops like any port (never module globals).

Every service builds one `Metrics` in its composition root and serves it with `serve_metrics` on its own port
(`MetricsSettings`); the loops call the named methods at their effect points. A unit test builds its own
`Metrics()` (a fresh registry, nothing served) and reads it back with `value`.

Label cardinality is bounded by construction: topics, groups, partitions, entities, directions, reasons, rules,
results and statuses are small fixed sets; the only open-ended label, the mailbox of the capture cursor age, is
capped (`mailbox_series_cap`): past the cap a mailbox's folders are reported together under mailbox="_other"
(the oldest age among them), so an organisation of thousands of mailboxes still exports a bounded set of series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from threading import Lock, Thread
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from shared.settings import MetricsSettings

OTHER_MAILBOXES = "_other"
DEFAULT_MAILBOX_SERIES_CAP = 50
# Seconds: from tens of milliseconds (one hop on the embedded broker) to minutes (an outage's backlog).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
HOPS = ("capture", "decide", "apply")

# Every metric name a service exports (the Grafana dashboard test checks its queries against these).
EXPORTED = (
    "fieldsync_events_consumed_total", "fieldsync_events_produced_total",
    "fieldsync_consumer_lag_messages", "fieldsync_consumer_lag_seconds",
    "fieldsync_sync_latency_seconds", "fieldsync_hop_latency_seconds",
    "fieldsync_decisions_total", "fieldsync_conflicts_total", "fieldsync_writes_total",
    "fieldsync_retries_total", "fieldsync_dead_letters_total", "fieldsync_capture_cursor_age_seconds",
    "fieldsync_mailbox_failing", "process_cpu_seconds_total", "process_resident_memory_bytes",
)  # fmt: skip


class CursorAges(Collector):
    """Seconds since each capture cursor last moved or was confirmed (a successful poll), computed at scrape."""

    def __init__(self, cap: int, clock: Callable[[], float]) -> None:
        self.cap, self.clock = cap, clock
        self._last: dict[tuple[str, str, str], float] = {}  # (source, mailbox, folder) -> time of success
        self._named: set[str] = set()  # mailboxes with their own series, first come first named
        self._lock = Lock()  # the scrape runs in the HTTP server's thread

    def succeeded(self, source: str, mailbox: str, folder: str) -> None:
        with self._lock:
            if mailbox and mailbox not in self._named and len(self._named) < self.cap:
                self._named.add(mailbox)
            self._last[(source, mailbox, folder)] = self.clock()

    def ages(self) -> dict[tuple[str, str, str], float]:
        now, ages = self.clock(), dict[tuple[str, str, str], float]()
        with self._lock:
            for (source, mailbox, folder), at in self._last.items():
                label = mailbox if not mailbox or mailbox in self._named else OTHER_MAILBOXES
                key = (source, label, folder)
                ages[key] = max(ages.get(key, 0.0), now - at)
        return ages

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "fieldsync_capture_cursor_age_seconds",
            "Seconds since the capture cursor of a source folder last advanced or was confirmed by a successful poll",
            labels=["source", "mailbox", "folder"],
        )
        for labels, age in sorted(self.ages().items()):
            family.add_metric(list(labels), age)
        yield family


class Metrics:
    """The metrics of one service, on its own CollectorRegistry; every method is one effect point's count."""

    def __init__(
        self,
        service: str = "test",
        *,
        registry: CollectorRegistry | None = None,
        process: bool = False,
        mailbox_series_cap: int = DEFAULT_MAILBOX_SERIES_CAP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        if process:  # process_cpu_seconds_total, process_resident_memory_bytes, ... of this process
            ProcessCollector(registry=self.registry)
        r = self.registry
        self.events_consumed = Counter("fieldsync_events_consumed", "Events consumed", ["topic"], registry=r)
        self.events_produced = Counter("fieldsync_events_produced", "Events produced", ["topic"], registry=r)
        self.lag_messages = Gauge(
            "fieldsync_consumer_lag_messages", "Records not yet committed by a consumer group (fetch high watermark "
            "minus committed offset)", ["group", "topic", "partition"], registry=r)  # fmt: skip
        self.lag_seconds = Gauge(
            "fieldsync_consumer_lag_seconds", "Age of the oldest record a consumer group has not committed "
            "(0 when nothing is left)", ["group"], registry=r)  # fmt: skip
        self.sync_latency = Histogram(
            "fieldsync_sync_latency_seconds", "From the source's modification time to the target's write",
            ["direction", "entity"], buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.hop_latency = Histogram(
            "fieldsync_hop_latency_seconds", "One hop: capture (modified to captured), decide (captured to "
            "decided), apply (decided to applied)", ["hop"], buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.decisions = Counter(
            "fieldsync_decisions", "Field outcomes decided, by outcome (synced/withheld) and reason",
            ["outcome", "reason"], registry=r)  # fmt: skip
        self.conflicts = Counter("fieldsync_conflicts", "Conflicts decided", ["rule", "winner"], registry=r)
        self.writes = Counter("fieldsync_writes", "Deltas applied by target and result", ["target", "result"],
                              registry=r)  # fmt: skip
        self.retries = Counter(
            "fieldsync_retries", "Retried requests and backoffs by target and status (429, 503, unreachable, ...)",
            ["target", "status"], registry=r)  # fmt: skip
        self.dead_letters = Counter("fieldsync_dead_letters", "Events sent to the dead-letter topic",
                                    ["service", "reason"], registry=r)  # fmt: skip
        self.mailbox_failing = Gauge("fieldsync_mailbox_failing", "Mailbox folders whose last poll failed, by error",
                                     ["error"], registry=r)  # fmt: skip
        self.failing([])  # every kind exported at 0 from the start
        self.cursor_ages = CursorAges(mailbox_series_cap, clock)
        r.register(self.cursor_ages)

    # -- effect points
    def consumed(self, topic: str, count: int = 1) -> None:
        self.events_consumed.labels(topic).inc(count)

    def produced(self, topic: str, count: int = 1) -> None:
        if count:
            self.events_produced.labels(topic).inc(count)

    def hop(self, hop: str, seconds: float) -> None:
        self.hop_latency.labels(hop).observe(max(0.0, seconds))

    def synced(self, direction: str, entity: str, seconds: float) -> None:
        self.sync_latency.labels(direction, entity).observe(max(0.0, seconds))

    def decided(self, outcome: str, reason: str) -> None:
        self.decisions.labels(outcome, reason).inc()

    def conflict(self, rule: str, winner: str) -> None:
        self.conflicts.labels(rule, winner).inc()

    def wrote(self, target: str, result: str) -> None:
        self.writes.labels(target, result).inc()

    def retried(self, target: str, status: str) -> None:
        self.retries.labels(target, status).inc()

    def dead_lettered(self, service: str, reason: str) -> None:
        self.dead_letters.labels(service, reason).inc()

    def cursor_ok(self, source: str, mailbox: str, folder: str) -> None:
        self.cursor_ages.succeeded(source, mailbox, folder)

    def failing(self, errors: Iterable[str]) -> None:
        """The current error of every failing mailbox folder (a gauge per kind of error, reset each time)."""
        counts: dict[str, int] = {}
        for error in errors:
            counts[error] = counts.get(error, 0) + 1
        for kind in ("throttled", "unreachable", "permission_denied", "no_mailbox", "error"):
            self.mailbox_failing.labels(kind).set(counts.get(kind, 0))

    # -- reading back (tests, the dashboard's own numbers)
    def value(self, name: str, **labels: str) -> float:
        """A sample's value (0.0 when it was never set): `value("fieldsync_writes_total", target="crm", ...)`."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found


@dataclass
class MetricsServer:
    """The /metrics HTTP endpoint of one service (prometheus-client's server, in a daemon thread); `server` is None
    when the port could not be bound (the service runs on without /metrics: sync matters more than its numbers)."""

    server: Any
    thread: Thread | None
    port: int

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def serve_metrics(metrics: Metrics, host: str, port: int) -> MetricsServer:
    """Serve `metrics` at http://host:port/metrics until stop(); raises OSError when the port is taken."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(server, thread, server.server_address[1])


def service_metrics(settings: MetricsSettings, service: str) -> Metrics:
    """A service's metrics, its process's CPU and memory included."""
    return Metrics(service, process=True, mailbox_series_cap=settings.metrics_mailbox_series_cap)


def serve_service(metrics: Metrics, settings: MetricsSettings) -> MetricsServer:
    """Serve a service's metrics on its port from settings; a port that cannot be bound is logged, not fatal."""
    log = logging.getLogger(f"fieldsync.{metrics.service}")
    port = settings.metrics_port(metrics.service)
    try:
        server = serve_metrics(metrics, settings.metrics_host, port)
    except OSError as exc:  # e.g. a second worker of the same service on one host
        log.warning("%s cannot serve /metrics on %s:%d (%s); running without it",
                    metrics.service, settings.metrics_host, port, exc)
        return MetricsServer(None, None, port)
    log.info("%s serves http://%s:%d/metrics", metrics.service, settings.metrics_host, server.port)
    return server


def start_service_metrics(settings: MetricsSettings, service: str) -> tuple[Metrics, MetricsServer]:
    """Both of the above: what a service's `run` starts first (and stops last)."""
    metrics = service_metrics(settings, service)
    return metrics, serve_service(metrics, settings)


def failure_status(exc: BaseException) -> str:
    """A bounded status label for a failed request: the HTTP status when the error carries one (429, 503, ...),
    `unreachable` for no answer, `busy` for EWS's server-busy, else the error's type in lower case."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        return str(status)
    text = f"{type(exc).__name__}: {exc}"
    if "429" in text:
        return "429"
    if "503" in text:
        return "503"
    if "ServerBusy" in text:
        return "busy"
    if isinstance(status, int) or isinstance(exc, ConnectionError | TimeoutError | OSError) or "onnect" in text:
        return "unreachable"
    return "error"
