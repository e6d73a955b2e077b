"""A child process the stack owns: in its own process group, tied to the supervisor's life, stopped whole."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
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
    stop() sends SIGTERM to the whole group, then SIGKILL after a grace period."""

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

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is not None:
            # The leader is gone, but children it left in its group may not be: no orphans.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            return
        pgid = os.getpgid(self.popen.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.popen.wait(timeout=5)
        # Children that outlived the leader in the group go too: no orphans.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
