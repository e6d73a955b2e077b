"""Consumer lag of the stack's consumer groups (committed offsets against high watermarks), and the drain on it.

Tansu's ListOffsets "latest" can report the first offset of the last batch instead of the high watermark
(DESIGN 5), so the watermarks come from fetch responses: a consumer outside any group, assigned every
partition of the consumed topics, fetches from the end and reads the watermark each response carries. The
committed offsets come from the admin API's OffsetFetch (read only: the probe never joins a group or commits).

Lifecycle: `await probe.start()` connects both clients and positions the fetcher at the end; `await probe.lag()`
fetches once more and answers group -> records not yet committed; `await probe.stop()` closes both.

`settle` is the convergence benchmark's drain: it waits until no DeltaApplied arrived for a quiet period and no
group has anything left to commit, or until its deadline.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.observer import BusObserver
from bench.scenario import PROGRESS_EVERY_S, check
from infra.runner.stack import Stack
from services.crm_applier.settings import CrmApplierSettings
from services.exchange_applier.settings import ExchangeApplierSettings
from services.policy.settings import PolicySettings
from shared import topics


def stack_groups() -> dict[str, tuple[str, ...]]:
    """Each service group and the topics it consumes (group ids as the services' settings default them)."""
    return {
        PolicySettings().policy_group_id: (topics.CRM_CHANGES.full_name, topics.EXCHANGE_CHANGES.full_name),
        CrmApplierSettings().crm_applier_group_id: (topics.DELTAS_CRM.full_name,),
        ExchangeApplierSettings().exchange_applier_group_id: (topics.DELTAS_EXCHANGE.full_name,),
    }


class LagProbe:
    def __init__(self, bootstrap: str, groups: dict[str, tuple[str, ...]]) -> None:
        self.groups = groups
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        self._fetcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                         fetch_max_wait_ms=50, max_poll_records=2000)
        self._partitions: list[TopicPartition] = []

    async def start(self) -> LagProbe:
        await self._admin.start()
        await self._fetcher.start()
        wanted = {name for names in self.groups.values() for name in names}
        await self._fetcher.topics()  # the cluster's metadata: the partitions of every topic
        for name in sorted(wanted):
            found = self._fetcher.partitions_for_topic(name) or set()
            self._partitions += [TopicPartition(name, p) for p in sorted(found)]
        self._fetcher.assign(self._partitions)
        await self._fetcher.seek_to_end(*self._partitions)
        return self

    async def _watermarks(self) -> dict[TopicPartition, int]:
        """The marks of the latest fetch responses: the fetcher fetches in the background every `fetch_max_wait_ms`
        while its buffer has room, so draining what it read keeps them fresh."""
        for _ in range(50):
            await self._fetcher.getmany(*self._partitions, timeout_ms=100)
            marks = {tp: self._fetcher.highwater(tp) for tp in self._partitions}
            if all(mark is not None for mark in marks.values()):
                return {tp: int(mark) for tp, mark in marks.items() if mark is not None}
        raise TimeoutError("no fetch response carried the high watermark of every partition")

    async def lag(self) -> dict[str, int]:
        marks = await self._watermarks()
        lags: dict[str, int] = {}
        for group, names in self.groups.items():
            mine = [tp for tp in self._partitions if tp.topic in names]
            # Partitions named: Tansu answers an OffsetFetch of "every partition" in a form aiokafka cannot read.
            committed = await self._admin.list_consumer_group_offsets(group, partitions=mine)
            lags[group] = sum(
                max(0, marks[tp] - max(0, committed[tp].offset if tp in committed else 0)) for tp in mine
            )
        return lags

    async def stop(self) -> None:
        await self._fetcher.stop()
        await self._admin.close()


async def settle(stack: Stack, observer: BusObserver, quiet_s: float, timeout_s: float) -> tuple[bool, str]:
    """(settled, what happened): nothing applied for `quiet_s` and zero lag in every group, or the deadline."""
    probe = await LagProbe(stack.settings.stack_bootstrap, stack_groups()).start()
    try:
        began = time.monotonic()
        count, last_change, next_line = len(observer.applied), began, began + PROGRESS_EVERY_S
        while True:
            check(stack)
            lags = await probe.lag()
            now = time.monotonic()
            if len(observer.applied) != count:
                count, last_change = len(observer.applied), now
            quiet, lag = now - last_change, sum(lags.values())
            if quiet >= quiet_s and lag == 0:
                return True, f"settled in {now - began:.0f}s: nothing applied for {quiet:.0f}s, consumer lag 0"
            if now - began >= timeout_s:
                return False, (f"drain gave up after {timeout_s:.0f}s: last DeltaApplied {quiet:.0f}s ago, "
                               f"consumer lag {lags}")
            if now >= next_line:
                next_line += PROGRESS_EVERY_S
                print(f"  drain {now - began:4.0f}s: last DeltaApplied {quiet:4.1f}s ago, consumer lag {lags}",
                      flush=True)
            await asyncio.sleep(1.0)
    finally:
        await probe.stop()
