"""A child process the stack owns: in its own process group, tied to the supervisor's life, stopped whole."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from infra.runner.lifeline import die_with_parent


class ProcessFailed(RuntimeError):
    """A child exited or never became ready; the message names it and points at its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class ManagedProcess:
    """Lifecycle: start() spawns the command (output to its log file) as the leader of a new process group,
    killed by the kernel if the supervisor dies (lifeline.py); wait_ready() polls a check with a deadline;
    stop() sends SIGTERM to the whole group, then SIGKILL after a grace period (stop_together: many at once)."""

    def __init__(self, name: str, command: Sequence[str], log_path: Path, env: dict[str, str] | None = None):
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        tie = die_with_parent()  # before anything is opened: refuses off the main thread
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its whole life
        env = {**os.environ, **(self.env or {})}
        self.popen = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True, preexec_fn=tie,
        )
        log.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ProcessFailed(f"{self.name} exited during start-up; see {self.log_path}")
            if check():
                return
            time.sleep(0.05)
        raise ProcessFailed(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}")

    def kill(self) -> None:
        """A crash: SIGKILL to the whole group, no chance to commit or clean up (used by crash tests)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(os.getpgid(self.popen.pid), signal.SIGKILL)
        self.popen.wait(timeout=5)

    def terminate(self) -> None:
        """SIGTERM to the whole group: the service commits what it finished and exits."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def wait_until(self, deadline: float) -> bool:
        """Wait for the leader to exit until `deadline` (time.monotonic()); True once it has."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill_group(self) -> None:
        """SIGKILL to the group, leader or not: whatever is left of it (a resisting leader, children it
        left behind) goes, and the leader is reaped. The group id is the leader's pid (start_new_session)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=5)

    def stop(self, grace: float = 10.0) -> None:
        stop_together([self], grace)


def stop_together(processes: Iterable[ManagedProcess], grace: float) -> None:
    """Stop many children in the time of the slowest: SIGTERM to every group at once, one shared deadline,
    then SIGKILL to every group (what is still there after `grace` seconds, and any leftover of the others).
    A child that will not even die of SIGKILL (stuck in the kernel) does not keep the others alive."""
    procs = list(processes)
    for proc in procs:
        proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.wait_until(deadline)
    stuck = []
    for proc in procs:
        try:
            proc.kill_group()
        except subprocess.TimeoutExpired:
            stuck.append(proc.name)
    if stuck:
        raise ProcessFailed(f"still running after SIGKILL: {', '.join(stuck)}")
