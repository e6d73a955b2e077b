"""A benchmark's own embedded stack: a temporary data folder and free ports, so a running `make run` is never touched.

    with OwnStack("pipeline", users=20, poll_interval=1.0, keep=args.keep_data) as own:
        ... own.stack ...
        own.ok = True          # nothing to look into: the data folder goes

Lifecycle: entering creates the data folder, gives both captures the poll interval asked for (the children
inherit this process's environment), starts the Stack (one ready line per part) and returns; leaving stops
every child in every case, then removes the folder only when `ok` was set and `keep` was not; otherwise it
prints where the data and every child's log stay, for the post-mortem.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from infra.runner.process import free_port
from infra.runner.settings import free_metrics_ports
from infra.runner.stack import Stack, StackSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
POLL_INTERVALS = ("FIELDSYNC_CRM_CAPTURE_POLL_INTERVAL_S", "FIELDSYNC_EXCHANGE_CAPTURE_POLL_INTERVAL_S")


def stack_settings(data_dir: Path, users: int) -> StackSettings:
    return StackSettings(
        data_dir=data_dir, broker_port=free_port(), redis_port=free_port(), crm_sandbox_port=free_port(),
        exchange_sandbox_port=free_port(), admin_api_port=free_port(), stack_seed_users=users,
        stack_ready_timeout_s=120.0, **free_metrics_ports(),
    )


def _ready(name: str, seconds: float, detail: str) -> None:
    print(f"  {name:<18} ready in {seconds:5.1f}s  {detail}", flush=True)


class OwnStack:
    """See the module docstring."""

    def __init__(self, name: str, users: int, poll_interval: float, keep: bool = False) -> None:
        self.name, self.users, self.poll_interval, self.keep = name, users, poll_interval, keep
        self.ok = False
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"fieldsync-{name}-"))
        self.stack = Stack(stack_settings(self.data_dir, users), on_ready=_ready)

    def __enter__(self) -> OwnStack:
        for variable in POLL_INTERVALS:
            os.environ[variable] = str(self.poll_interval)
        print(f"starting the stack in {self.data_dir} ({self.users} users)", flush=True)
        try:
            self.stack.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stack.stop()
        if self.ok and not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        else:
            print(f"stack data and logs kept in {self.data_dir}", flush=True)
