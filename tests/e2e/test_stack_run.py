"""`make run` brings the whole stack up, every URL answers, Ctrl-C stops it in under 3 s, a SIGKILL of it
leaves no process and no port behind either, and a port already taken is refused before anything starts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from infra.runner.ports import holder
from infra.runner.process import port_open
from infra.runner.stack import Stack, free_port_settings
from shared.settings import METRICS_SERVICES
from tests.support import eventually, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
UP_LINE = "fieldsync is up"
METRICS_PORTS = tuple(f"{name}_metrics" for name in METRICS_SERVICES)
PORTS = ("broker", "redis", "crm_sandbox", "exchange_sandbox", "admin_api", "policy_web", *METRICS_PORTS)


def descendants(root: int) -> dict[int, str]:
    """pid -> start time of every process below `root`, from /proc (the start time tells a reused pid apart)."""
    parents: dict[int, int] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited while we looked
        parents[int(entry.name)], started[int(entry.name)] = int(fields[1]), fields[19]
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started[pid]
                frontier.append(pid)
    return found


def still_running(pid: int, started: str) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


class Launched:
    """A command started in its own session (as a terminal would), its output collected line by line."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_up(self, timeout: float = 120.0) -> None:
        eventually(lambda: UP_LINE in self.output or self.popen.poll() is not None, timeout, what="stack up")
        assert UP_LINE in self.output, self.output

    def finish(self, timeout: float = 60.0) -> int:
        code = self.popen.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    ports = {name: str(free_port()) for name in PORTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    env.update({f"FIELDSYNC_{name.upper()}_PORT": port for name, port in ports.items()})
    env["FIELDSYNC_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.fixture
def launch(stack_env: dict[str, str]) -> Iterator[list[Launched]]:
    started: list[Launched] = []
    yield started
    for run in started:  # a failed test must not leave a stack running
        pids = descendants(run.popen.pid)
        run.kill()
        for pid in pids:
            if still_running(pid, pids[pid]):
                os.kill(pid, signal.SIGKILL)
    for pid in processes_of(stack_env["FIELDSYNC_DATA_DIR"]):  # nor children its supervisor's death orphaned
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def processes_of(data_dir: str) -> list[int]:
    """Every live process of the stack on `data_dir`: each child gets FIELDSYNC_DATA_DIR in its environment, and
    redis-server (which writes its title over its environment) works in a folder inside `data_dir`."""
    marker = f"FIELDSYNC_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            inside = os.readlink(entry / "cwd").startswith(f"{data_dir}/")
            if inside or marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # exited meanwhile (a zombie has no cwd), or not ours
    return found


def ports_of(env: dict[str, str]) -> list[int]:
    return [int(env[f"FIELDSYNC_{name.upper()}_PORT"]) for name in PORTS]


def assert_everything_answers(env: dict[str, str], with_admin: bool) -> None:
    crm = f"http://127.0.0.1:{env['FIELDSYNC_CRM_SANDBOX_PORT']}"
    token = httpx.post(f"{crm}/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "fieldsync", "client_secret": "sandbox-secret"})
    assert token.status_code == 200 and token.json()["access_token"]
    ews = httpx.post(f"http://127.0.0.1:{env['FIELDSYNC_EXCHANGE_SANDBOX_PORT']}/EWS/Exchange.asmx", content=b"<x/>")
    assert ews.status_code == 401
    assert redis.Redis(port=int(env["FIELDSYNC_REDIS_PORT"])).ping()
    assert port_open("127.0.0.1", int(env["FIELDSYNC_BROKER_PORT"]))
    if with_admin:
        assert httpx.get(f"http://127.0.0.1:{env['FIELDSYNC_ADMIN_API_PORT']}/healthz").status_code == 200


def left_behind(port: int, ours: set[int]) -> bool:
    """A port is left behind when something of the stack still listens on it. Another worker's stack may take a
    freed port at once: a listener that is none of ours is not ours to blame (one we cannot see counts as ours)."""
    if not port_open("127.0.0.1", port):
        return False
    pid = holder(port).pid
    return pid is None or pid in ours


def assert_nothing_left(pids: dict[int, str], env: dict[str, str], data_dir: str | None = None) -> None:
    eventually(lambda: not [p for p, s in pids.items() if still_running(p, s)], 15, what="every child gone")
    data_dir = data_dir or env["FIELDSYNC_DATA_DIR"]

    def ours() -> set[int]:
        return {p for p, s in pids.items() if still_running(p, s)} | set(processes_of(data_dir))

    eventually(lambda: not [p for p in ports_of(env) if left_behind(p, ours())], 5, what="every port closed")


def make_run_command() -> list[str]:
    """The README's `make run` when the environment is current (make -q), else the command it ends in."""
    fresh = subprocess.run(["make", "-q", "env"], cwd=ROOT, capture_output=True).returncode == 0
    return ["make", "--no-print-directory", "run"] if fresh else [str(ROOT / ".venv/bin/fieldsync"), "up"]


def test_make_run_comes_up_and_ctrl_c_leaves_nothing_behind(stack_env: dict[str, str], launch: list[Launched]) -> None:
    run = Launched(make_run_command(), stack_env)
    launch.append(run)
    run.wait_up()
    with_admin = "ready  admin_api" in run.output
    assert_everything_answers(stack_env, with_admin)
    for expected in ("token endpoint", "service account", "alice@sandbox.local", "Kafka bootstrap", "Logs"):
        assert expected in run.output
    for name in ("policy", "crm_applier", "exchange_applier", "crm_capture", "exchange_capture", "admin_api"):
        url = f"http://127.0.0.1:{stack_env[f'FIELDSYNC_{name.upper()}_METRICS_PORT']}/metrics"
        assert url in run.output, run.output  # make run prints every service's full /metrics URL
    if with_admin:
        assert f"http://127.0.0.1:{stack_env['FIELDSYNC_ADMIN_API_PORT']}/dashboard" in run.output
    pids = descendants(run.popen.pid)
    assert len(pids) >= 5, pids  # at least broker, redis, two sandboxes and the CLI itself
    began = time.monotonic()
    os.killpg(run.popen.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    run.finish()
    stopped_in = time.monotonic() - began
    assert "SIGINT received" in run.output and "no process left behind" in run.output, run.output
    assert_nothing_left(pids, stack_env)
    # The one timing requirement: services stopped together, then the infrastructure together.
    assert stopped_in < 3.0, f"Ctrl-C took {stopped_in:.1f}s\n{run.output}"


def test_sigkill_of_the_supervisor_leaves_no_child(stack_env: dict[str, str], launch: list[Launched]) -> None:
    """No chance to clean up: the kernel kills every child (PR_SET_PDEATHSIG), checked by pid and by port. Two
    services are enough children of each kind (every service is started the same way) and spare the CPU."""
    env = {**stack_env, "FIELDSYNC_STACK_SERVICES": "recorder,crm_applier"}
    run = Launched([str(ROOT / ".venv/bin/fieldsync"), "up"], env)
    launch.append(run)
    run.wait_up()
    parts = [line.split()[1] for line in run.lines if line.startswith("  ready  ")]
    children = [name for name in parts if name not in ("topics", "seed")]  # each one a process
    pids = descendants(run.popen.pid)
    assert len(pids) >= len(children) >= 5, (pids, children)
    os.kill(run.popen.pid, signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    assert_nothing_left(pids, env)
    eventually(lambda: not processes_of(env["FIELDSYNC_DATA_DIR"]), 5, what="no process of this stack")


def listener(family: str, port: int) -> socket.socket:
    """A socket holding `port` as another program would: on 127.0.0.1, or on [::] for IPv4 too (dual stack)."""
    if family == "ipv4":
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
    else:
        sock = socket.socket(socket.AF_INET6)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.bind(("::", port))
        except OSError as exc:
            sock.close()
            pytest.skip(f"no IPv6 here: {exc}")
    sock.listen()
    return sock


@pytest.mark.parametrize("family", ["ipv4", "ipv6-dual-stack"])
def test_a_taken_port_is_refused_in_one_line_naming_its_holder(
    stack_env: dict[str, str], launch: list[Launched], family: str
) -> None:
    port = int(stack_env["FIELDSYNC_EXCHANGE_SANDBOX_PORT"])
    with listener(family, port):
        run = Launched([str(ROOT / ".venv/bin/fieldsync"), "up"], stack_env)
        launch.append(run)
        assert run.finish() == 1, run.output
    me = f"pid {os.getpid()} ({Path('/proc/self/comm').read_text().strip()})"
    assert run.output.strip() == (
        f"fieldsync: not starting: port {port} (FIELDSYNC_EXCHANGE_SANDBOX_PORT) is taken by {me}; "
        "stop it or choose another port"
    ), run.output
    assert not Path(stack_env["FIELDSYNC_DATA_DIR"]).exists()  # nothing started: no log was ever opened
    assert not processes_of(stack_env["FIELDSYNC_DATA_DIR"])
    assert not [p for p in ports_of(stack_env) if port_open("127.0.0.1", p)]


def test_sigterm_stops_everything_and_exits_zero_and_a_restart_does_not_reseed(
    stack_env: dict[str, str], launch: list[Launched]
) -> None:
    env = {**stack_env, "FIELDSYNC_STACK_SERVICES": "none"}
    for attempt in (1, 2):
        run = Launched([str(ROOT / ".venv/bin/fieldsync"), "up"], env)
        launch.append(run)
        run.wait_up()
        assert ("ready  seed" in run.output) == (attempt == 1), run.output
        pids = descendants(run.popen.pid)
        run.popen.send_signal(signal.SIGTERM)
        assert run.finish() == 0, run.output
        assert_nothing_left(pids, env)


def test_a_child_that_dies_is_reported_and_stops_the_stack_with_an_error(
    stack_env: dict[str, str], launch: list[Launched]
) -> None:
    env = {**stack_env, "FIELDSYNC_STACK_SERVICES": "none"}
    run = Launched([str(ROOT / ".venv/bin/fieldsync"), "up"], env)
    launch.append(run)
    run.wait_up()
    pids = descendants(run.popen.pid)
    victim = next(p for p in pids if b"infra.sandbox.exchange" in Path(f"/proc/{p}/cmdline").read_bytes())
    os.kill(victim, signal.SIGKILL)
    assert run.finish() == 1, run.output
    assert "exchange-sandbox exited" in run.output and "exchange-sandbox.log" in run.output, run.output
    assert_nothing_left(pids, env)


def test_stack_api_as_a_context_manager_on_free_ports(tmp_path: Path) -> None:
    """What other e2e fixtures do: Stack(free_port_settings(...)) in a with block; its urls answer."""
    settings = free_port_settings(tmp_path / "data", stack_services="none")
    with Stack(settings) as stack:
        assert stack.urls["bootstrap_servers"] == f"127.0.0.1:{settings.broker_port}"
        env = {f"FIELDSYNC_{name.upper()}_PORT": str(getattr(settings, f"{name}_port")) for name in PORTS}
        assert_everything_answers(env, with_admin=False)
        pids = {proc.pid: Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
                for proc in stack.processes if proc.pid}
        assert settings.seed_marker.exists()
    assert stack.processes == []
    assert_nothing_left(pids, env, str(settings.data_dir))
