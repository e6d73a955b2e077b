"""Consumer lag of every fieldsync consumer group, in records and in seconds, measured from outside the groups.

The admin API measures it, not the consumers themselves, so that the lag of a stopped or stuck consumer still
grows where an operator looks. Per group and partition:

- lag in messages = the partition's high watermark minus the group's committed offset. The high watermark is
  the one fetch responses carry (a fetcher outside any group reads the consumed topics); Tansu's ListOffsets
  "latest" is wrong when the last batch holds more than one record (DESIGN 5), so it is never asked.
- lag in seconds = the age of the oldest record the group has not committed: now minus the timestamp of the
  record at the committed offset (0 when nothing is left). The fetcher starts at the lowest committed offset
  of the groups, so it has read (and indexed by offset) every record any group still has to commit. Per group
  the worst partition counts. A record not yet read by the fetcher itself (it lags behind the topic's end)
  counts with the newest timestamp known, so the figure is then a lower bound, never a guess upwards.

Lifecycle: `start()` connects the fetcher and the admin client (OffsetFetch, read only: the observer never joins
a group or commits) and positions the fetcher; `run(stop)` samples every `interval_s` (fetch, committed offsets,
lag into the metrics gauges and `latest`), logging a failing broker once per streak and carrying on; `stop()`
closes both clients.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.metrics import Metrics

log = logging.getLogger("fieldsync.admin_api.lag")


@dataclass(frozen=True)
class GroupLag:
    group: str
    messages: int
    seconds: float
    partitions: dict[str, int]  # "topic[partition]" -> records not committed


@dataclass
class Stamps:
    """Offsets and their records' timestamps (seconds) for one partition, in offset order, pruned from below."""

    offsets: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    cap: int = 200_000

    def add(self, offset: int, at: float) -> None:
        if self.offsets and offset <= self.offsets[-1]:
            return  # a refetch after a seek: already known
        self.offsets.append(offset)
        self.times.append(at)
        if len(self.offsets) > self.cap:
            del self.offsets[: len(self.offsets) - self.cap], self.times[: len(self.times) - self.cap]

    def oldest_from(self, offset: int) -> float | None:
        """The timestamp of the first known record at or after `offset` (the newest known if all are before)."""
        if not self.offsets:
            return None
        index = bisect.bisect_left(self.offsets, offset)
        return self.times[min(index, len(self.times) - 1)]

    def prune_below(self, offset: int) -> None:
        index = bisect.bisect_left(self.offsets, offset)
        if index:
            del self.offsets[:index], self.times[:index]


def group_lag(
    group: str,
    marks: dict[TopicPartition, int],
    committed: dict[TopicPartition, int],
    stamps: dict[TopicPartition, Stamps],
    now: float,
) -> GroupLag:
    """One group's lag from the high watermarks, its committed offsets (absent: 0) and the record timestamps."""
    partitions, seconds = {}, 0.0
    for tp, mark in sorted(marks.items()):
        position = committed.get(tp, 0)
        behind = max(0, mark - position)
        partitions[f"{tp.topic}[{tp.partition}]"] = behind
        if behind:
            oldest = stamps[tp].oldest_from(position) if tp in stamps else None
            seconds = max(seconds, now - oldest if oldest is not None else 0.0)
    return GroupLag(group, sum(partitions.values()), max(0.0, seconds), partitions)


class LagObserver:
    def __init__(
        self,
        bootstrap_servers: str,
        groups: dict[str, tuple[str, ...]],
        metrics: Metrics,
        *,
        interval_s: float = 1.0,
        fetch_max_wait_ms: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.groups, self.metrics, self.interval_s, self.clock = groups, metrics, interval_s, clock
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        self._fetcher = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=fetch_max_wait_ms, max_poll_records=5000,
        )  # fmt: skip
        self.partitions: list[TopicPartition] = []
        self.stamps: dict[TopicPartition, Stamps] = {}
        self.latest: list[GroupLag] = []
        self.sampled_at: float | None = None

    async def start(self) -> LagObserver:
        await self._admin.start()
        await self._fetcher.start()
        await self._fetcher.topics()  # the cluster's metadata: the partitions of every topic
        for name in sorted({t for topics in self.groups.values() for t in topics}):
            found = self._fetcher.partitions_for_topic(name) or set()
            self.partitions += [TopicPartition(name, p) for p in sorted(found)]
        self.stamps = {tp: Stamps() for tp in self.partitions}
        self._fetcher.assign(self.partitions)
        committed = await self._committed()
        for tp in self.partitions:  # from the oldest record any group still has to commit
            self._fetcher.seek(tp, min((c.get(tp, 0) for c in committed.values()), default=0))
        return self

    async def _committed(self) -> dict[str, dict[TopicPartition, int]]:
        found = {}
        for group, names in self.groups.items():
            mine = [tp for tp in self.partitions if tp.topic in names]
            # Partitions named: Tansu answers an OffsetFetch of "every partition" in a form aiokafka cannot read.
            offsets = await self._admin.list_consumer_group_offsets(group, partitions=mine)
            found[group] = {tp: max(0, meta.offset) for tp, meta in offsets.items() if tp in mine}
        return found

    async def sample(self) -> list[GroupLag]:
        """Fetch what arrived (indexing its timestamps), then every group's lag; the gauges follow."""
        for _ in range(20):  # drain the fetcher's buffer: each call hands at most max_poll_records
            batches = await self._fetcher.getmany(*self.partitions, timeout_ms=50)
            for tp, records in batches.items():
                for record in records:
                    self.stamps[tp].add(record.offset, record.timestamp / 1000.0)
            if sum(len(r) for r in batches.values()) < 5000:
                break
        marks = {tp: int(mark) for tp in self.partitions if (mark := self._fetcher.highwater(tp)) is not None}
        committed = await self._committed()
        now = self.clock()
        lags = []
        for group, names in self.groups.items():
            mine = {tp: mark for tp, mark in marks.items() if tp.topic in names}
            lag = group_lag(group, mine, committed[group], self.stamps, now)
            lags.append(lag)
            for tp in mine:
                behind = lag.partitions[f"{tp.topic}[{tp.partition}]"]
                self.metrics.lag_messages.labels(group, tp.topic, str(tp.partition)).set(behind)
            self.metrics.lag_seconds.labels(group).set(lag.seconds)
        for tp, stamps in self.stamps.items():  # nobody needs the timestamps below every group's commit
            stamps.prune_below(min((c.get(tp, 0) for c in committed.values()), default=0))
        self.latest, self.sampled_at = lags, now
        return lags

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                await self.sample()
            except Exception as exc:  # the broker away: keep the last figures, say so once, try again
                failures += 1
                if failures == 1:
                    log.warning("consumer lag cannot be measured now: %r", exc)
            else:
                if failures:
                    log.info("consumer lag measured again after %d failures", failures)
                failures = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)

    async def stop(self) -> None:
        await self._fetcher.stop()
        await self._admin.close()
