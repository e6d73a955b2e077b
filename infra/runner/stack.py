"""The embedded stack as one object: broker, topics, redis-server, both sandboxes, seed, every service.

    with Stack(StackSettings(data_dir=tmp, broker_port=..., ...)) as stack:
        stack.urls["crm_api"], stack.urls["admin_api"], ...

Lifecycle: start() first refuses (PortTaken, nothing started) when a port it needs is held by another
process, then brings the parts up in dependency order, each awaited with a deadline (a part that fails
stops everything already started and raises ProcessFailed); failed() names a child that died while
running; stop() stops the services together, then the infrastructure together (process groups, SIGTERM,
a short grace, SIGKILL), so nothing outlives the stack. Every child also dies with the process that
started it, even one killed outright (lifeline.py). Tansu keeps topics in memory: topics are created on
every start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from infra.kafka.topics import ensure_topics
from infra.runner.infra import broker, broker_ready, redis_process, redis_ready
from infra.runner.ports import PortTaken, refuse_taken
from infra.runner.process import ManagedProcess, ProcessFailed, stop_together
from infra.runner.services import ChildSpec, sandboxes, services
from infra.runner.settings import StackSettings, free_port_settings
from infra.sandbox.seed import seed, user_names

__all__ = ["INFRASTRUCTURE", "PortTaken", "ProcessFailed", "Stack", "StackSettings", "free_port_settings"]
T = TypeVar("T")

INFRASTRUCTURE = frozenset({"broker", "redis", "crm-sandbox", "exchange-sandbox"})
# Measured on 2 busy cores with the six services stopped together: each logs its clean stop (committed,
# out of its group) within 0.3 s of SIGTERM, then exits 0.2-3 s later, the rest being the interpreter's own
# teardown (and faust's one-second sleep); one still joining its group does not stop before the join ends.
# So a service gets SIGKILL after a 1 s grace: at-least-once delivery with idempotent effects makes that a
# harmless crash, and the whole stack stops in about 2 s. The infrastructure stops in about 0.2 s; Tansu,
# with a join of a killed member pending, may not stop at all (memory only: SIGKILL loses nothing).
SERVICE_GRACE_S = 1.0
INFRASTRUCTURE_GRACE_S = 0.5

# Called once per part as it becomes ready: (name, seconds it took, detail such as its URL).
ReadyCallback = Callable[[str, float, str], None]


def _quiet(name: str, seconds: float, detail: str) -> None:
    """The default ReadyCallback: programmatic users (test fixtures) need no progress lines."""


def _reached(moment: float) -> Callable[[], bool]:
    """A readiness check for a child with nothing to probe: ready once it has run until `moment`."""
    return lambda: time.monotonic() >= moment


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also when the caller already runs a loop (an async test fixture): then in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Stack:
    """Owns every child process of the embedded stack; see the module docstring for its lifecycle."""

    def __init__(self, settings: StackSettings | None = None, on_ready: ReadyCallback = _quiet):
        self.settings = settings or StackSettings()
        self.on_ready = on_ready
        self.processes: list[ManagedProcess] = []

    @property
    def urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "crm_api": f"{s.crm_root}/api/data/v9.2/",
            "crm_token": f"{s.crm_root}/oauth2/token",
            "ews": f"{s.exchange_root}/EWS/Exchange.asmx",
            "ews_admin": f"{s.exchange_root}/_sandbox/mailboxes",
            "admin_api": s.admin_root,
            "admin_docs": f"{s.admin_root}/docs",
            "bootstrap_servers": s.stack_bootstrap,
            "redis": s.stack_redis_url,
            "logs": str(s.log_dir),
            "dashboard": f"{s.admin_root}/dashboard",
        }

    def metrics_urls(self) -> dict[str, str]:
        """The /metrics URL of every service this stack runs."""
        return {spec.name: self.settings.metrics_url(spec.name) for spec in services(self.settings)}

    @property
    def service_names(self) -> list[str]:
        return [p.name for p in self.processes]

    def ports(self) -> list[tuple[int, str]]:
        """Every port this stack's children will listen on, with the setting that chooses it."""
        names = ["broker", "redis", "crm_sandbox", "exchange_sandbox"]
        wanted = [spec.name for spec in services(self.settings)]
        names += [name for name in wanted if name == "admin_api"]
        names += [f"{name}_metrics" for name in wanted]
        return [(getattr(self.settings, f"{name}_port"), f"FIELDSYNC_{name.upper()}_PORT") for name in names]

    def refuse_taken_ports(self) -> None:
        """Raise PortTaken (naming each port and the pid holding it) before anything is started."""
        refuse_taken(self.ports())

    def start(self) -> Stack:
        self.refuse_taken_ports()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        s = self.settings
        s.root.mkdir(parents=True, exist_ok=True)
        timeout = s.stack_ready_timeout_s
        began = time.monotonic()
        proc = self._spawn(broker(s.broker_port, s.log_dir))
        proc.wait_ready(lambda: broker_ready(s.broker_port), timeout)
        self.on_ready("broker", time.monotonic() - began, s.stack_bootstrap)
        began = time.monotonic()
        created = _run(ensure_topics(s.stack_bootstrap, s.topic_partitions, timeout=timeout))
        self.on_ready("topics", time.monotonic() - began, f"{len(created)} created, {s.topic_partitions} partitions")
        began = time.monotonic()
        proc = self._spawn(redis_process(s.redis_port, s.redis_dir, s.log_dir))
        proc.wait_ready(lambda: redis_ready(s.redis_port), timeout)
        self.on_ready("redis", time.monotonic() - began, s.stack_redis_url)
        self._start_group(sandboxes(s))
        if s.stack_seed and not s.seed_marker.exists():
            began = time.monotonic()
            report = _run(seed(s.client_settings(), user_names(s.stack_seed_users), progress=_silent))
            s.seed_marker.write_text("seeded by fieldsync up\n")
            self.on_ready("seed", time.monotonic() - began, report.summary())
        self._start_group(services(s))

    def _spawn(self, proc: ManagedProcess) -> ManagedProcess:
        proc.env = {**self.settings.child_env(), **(proc.env or {})}
        self.processes.append(proc)
        return proc.start()

    def _start_group(self, specs: list[ChildSpec]) -> None:
        """Start a group together, then await each: their start-up times overlap."""
        s = self.settings
        started = []
        for spec in specs:
            began = time.monotonic()
            proc = self._spawn(ManagedProcess(spec.name, spec.command, s.log_dir / f"{spec.name}.log"))
            started.append((spec, proc, began))
        for spec, proc, began in started:
            if spec.check is None:
                proc.wait_ready(_reached(began + s.stack_settle_s), s.stack_ready_timeout_s)
            else:
                proc.wait_ready(spec.check, s.stack_ready_timeout_s)
            self.on_ready(spec.name, time.monotonic() - began, spec.detail)

    def failed(self) -> ManagedProcess | None:
        """The first child that is no longer running (None while all are alive)."""
        return next((p for p in self.processes if p.popen is not None and not p.alive()), None)

    def stop(self) -> None:
        """Stop the services together, then the infrastructure they were using together: the whole stack
        takes the time of its slowest service plus its slowest part of infrastructure, at most the graces."""
        errors: list[BaseException] = []
        infrastructure = [p for p in self.processes if p.name in INFRASTRUCTURE]
        pipeline = [p for p in self.processes if p.name not in INFRASTRUCTURE]
        for wave, grace in ((pipeline, SERVICE_GRACE_S), (infrastructure, INFRASTRUCTURE_GRACE_S)):
            try:
                stop_together(wave, grace)
            except (OSError, RuntimeError) as exc:  # still stop the next wave, report at the end
                errors.append(exc)
        self.processes = []
        if errors:
            raise ProcessFailed(f"some children did not stop cleanly: {errors}")

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _silent(message: str) -> None:
    """Seed progress is summarised by the stack's own ready line instead."""
