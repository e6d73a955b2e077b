"""The dashboard's source: every service's /metrics scraped (Prometheus text), kept as a short history of samples.

The admin API does what Prometheus would, in miniature, so the built-in dashboard needs nothing else running:
on a dashboard request (at most once per `min_interval_s`) it scrapes every service's /metrics, adds its own
registry (the consumer lag), and keeps the samples of the last `window_s` seconds; dashboard.py turns two
samples into rates and latency percentiles. A service that does not answer is reported down, not an error.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import Metrics

# One sample: (metric sample name, sorted label pairs) -> value, summed over the services that export it.
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Sample:
    at: float
    series: Series
    up: dict[str, bool]


def parse(text: str, into: Series) -> None:
    """Add every sample of a Prometheus text exposition into `into` (values of equal series are summed)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            into[key] = into.get(key, 0.0) + float(sample.value)


@dataclass
class Scraper:
    targets: dict[str, str]  # service -> its /metrics URL
    own: Metrics
    window_s: float = 300.0
    min_interval_s: float = 1.0
    timeout_s: float = 1.0
    clock: Callable[[], float] = time.time
    history: deque[Sample] = field(default_factory=deque)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def samples(self) -> list[Sample]:
        """The history, with a fresh sample first taken when the newest is older than `min_interval_s`."""
        async with self._lock:
            now = self.clock()
            if not self.history or now - self.history[-1].at >= self.min_interval_s:
                self.history.append(await self._scrape(now))
            while len(self.history) > 2 and now - self.history[1].at > self.window_s:
                self.history.popleft()
            return list(self.history)

    async def _scrape(self, now: float) -> Sample:
        series: Series = {}
        parse(generate_latest(self.own.registry).decode(), series)
        up = {}
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            answers = await asyncio.gather(*(client.get(url) for url in self.targets.values()), return_exceptions=True)
        for name, answer in zip(self.targets, answers, strict=True):
            up[name] = isinstance(answer, httpx.Response) and answer.status_code == 200
            if isinstance(answer, httpx.Response) and up[name]:
                parse(answer.text, series)
        return Sample(now, series, up)
