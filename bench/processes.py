"""Peak memory of the stack's children: VmHWM of every process in each child's process group, from /proc.

Each child of the Stack runs in its own session, so its process group id is its pid and its helpers
(faust's, uvicorn's) share it. VmHWM is a process's own resident high-water mark; a service's peak is the
sum of its processes' marks (an upper bound when they peaked at different times). Processes that exit
keep the last mark read, which is why sampling runs until the end of the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

PROC = Path("/proc")


def _pgrp(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces and parentheses): state ppid pgrp ...
    return int(stat.rsplit(")", 1)[1].split()[2])


def vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class MemorySampler:
    """Lifecycle: start() launches a daemon thread that reads every group's marks each `interval_s`;
    stop() ends it after one last reading; peaks_mib() gives service name -> peak MiB."""

    def __init__(self, groups: dict[str, int], interval_s: float = 1.0):
        self.groups = dict(groups)  # service name -> process group id (the child's pid)
        self.interval_s = interval_s
        self._marks: dict[str, dict[int, int]] = {name: {} for name in groups}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def sample(self) -> None:
        by_group = {pgid: name for name, pgid in self.groups.items()}
        for entry in os.listdir(PROC):
            if not entry.isdigit():
                continue
            pid = int(entry)
            name = by_group.get(_pgrp(pid) or -1)
            if name is None:
                continue
            mark = vm_hwm_kib(pid)
            if mark is not None:
                marks = self._marks[name]
                marks[pid] = max(marks.get(pid, 0), mark)

    def _run(self) -> None:
        while not self._done.wait(self.interval_s):
            with contextlib.suppress(OSError):
                self.sample()

    def start(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.sample()

    def peaks_mib(self) -> dict[str, float]:
        return {name: sum(marks.values()) / 1024 for name, marks in self._marks.items()}
