"""The stack's children as the benchmark sees them: peak memory (VmHWM) and CPU time per service, from /proc.

Each child of the Stack runs in its own session, so its process group id is its pid and its helpers
(faust's, uvicorn's) share it. VmHWM is a process's own resident high-water mark; a service's peak is the
sum of its processes' marks (an upper bound when they peaked at different times). Processes that exit
keep the last mark read, which is why sampling runs until the end of the benchmark. CPU time
(utime + stime) is read the same way and reported between two marks (`mark_cpu()`), so the time a
service spent on the traffic shows apart from its start-up.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

PROC = Path("/proc")


TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(process group, CPU seconds used) of a process, None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces and parentheses): state ppid pgrp ...;
    # utime and stime are the 12th and 13th of them.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / TICKS


def vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class ProcessSampler:
    """Lifecycle: start() launches a daemon thread that reads every group's marks each `interval_s`;
    stop() ends it after one last reading; peaks_mib() gives service name -> peak MiB, cpu_s() the CPU
    seconds each service used since mark_cpu() was called."""

    def __init__(self, groups: dict[str, int], interval_s: float = 1.0):
        self.groups = dict(groups)  # service name -> process group id (the child's pid)
        self.interval_s = interval_s
        self._marks: dict[str, dict[int, int]] = {name: {} for name in groups}
        self._cpu: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._cpu_base: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def sample(self) -> None:
        by_group = {pgid: name for name, pgid in self.groups.items()}
        for entry in os.listdir(PROC):
            if not entry.isdigit():
                continue
            pid = int(entry)
            stat = _stat(pid)
            name = by_group.get(stat[0]) if stat else None
            if name is None or stat is None:
                continue
            mark = vm_hwm_kib(pid)
            with self._lock:
                self._cpu[name][pid] = stat[1]
                if mark is not None:
                    marks = self._marks[name]
                    marks[pid] = max(marks.get(pid, 0), mark)

    def mark_cpu(self) -> None:
        """From now on cpu_s() counts from here."""
        self.sample()
        with self._lock:
            self._cpu_base = {name: dict(used) for name, used in self._cpu.items()}

    def cpu_s(self) -> dict[str, float]:
        with self._lock:
            return {name: sum(s - self._cpu_base[name].get(pid, 0.0) for pid, s in used.items())
                    for name, used in self._cpu.items()}

    def _run(self) -> None:
        while not self._done.wait(self.interval_s):
            with contextlib.suppress(OSError):
                self.sample()

    def start(self) -> ProcessSampler:
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
