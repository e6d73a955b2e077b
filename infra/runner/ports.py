"""Who holds a TCP port, from /proc alone: /proc/net/tcp{,6} give the socket's inode, /proc/<pid>/fd the pid."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.runner.process import ProcessFailed

PROC = Path("/proc")
TCP_TABLES = (PROC / "net" / "tcp", PROC / "net" / "tcp6")
LISTEN = "0A"  # the state column of /proc/net/tcp: TCP_LISTEN


class PortTaken(ProcessFailed):
    """Ports the stack needs are not free; the message names each one, its setting and who holds it."""


@dataclass(frozen=True)
class Holder:
    """A process with a socket on the port; pid None when it is not ours to see (another user's fds)."""

    pid: int | None
    command: str = ""

    def describe(self) -> str:
        if self.pid is None:
            return "a process this user cannot see"
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def bind_error(port: int, host: str = "127.0.0.1") -> OSError | None:
    """Why a child could not bind `host:port` (None: it could). The same bind the child makes, with the
    SO_REUSEADDR every server here sets, so a closed connection in TIME_WAIT does not count as taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def refuse_taken(ports: Iterable[tuple[int, str]]) -> None:
    """Raise PortTaken naming every (port, setting) that cannot be bound, and the process holding it."""
    problems = []
    for port, setting in ports:
        error = bind_error(port)
        if error is None:
            continue
        if error.errno == errno.EADDRINUSE:
            problems.append(f"port {port} ({setting}) is taken by {holder(port).describe()}")
        else:
            problems.append(f"port {port} ({setting}) cannot be bound: {error.strerror}")
    if problems:
        raise PortTaken("; ".join(problems))


def socket_inodes(port: int) -> list[int]:
    """Inodes of the sockets bound to local `port` (IPv4 and IPv6), listening ones first."""
    found: list[tuple[bool, int]] = []
    for table in TCP_TABLES:
        with contextlib.suppress(OSError):  # no IPv6 on this machine: no tcp6 table
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                inode = int(fields[9])
                if local_port == port and inode:
                    found.append((fields[3] != LISTEN, inode))
    return [inode for _, inode in sorted(found)]


def owner_of(inode: int) -> int | None:
    """The pid with a file descriptor on socket `inode`; None when no process we may look into has one."""
    link = f"socket:[{inode}]"
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or another user's process
            for fd in os.scandir(entry / "fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) == link:
                        return int(entry.name)
    return None


def holder(port: int) -> Holder:
    """The process holding `port`: the first socket on it whose owner this user can see."""
    for inode in socket_inodes(port):
        pid = owner_of(inode)
        if pid is not None:
            command = ""
            with contextlib.suppress(OSError):
                command = (PROC / str(pid) / "comm").read_text().strip()
            return Holder(pid, command)
    return Holder(None)
