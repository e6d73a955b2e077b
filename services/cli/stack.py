"""`fieldsync up`: the embedded stack in the foreground, its URLs and credentials, stopped whole on Ctrl-C.

Lifecycle: refuse in one line, exit 1, start nothing, when a port the stack needs is taken (naming the pid
holding it); else start every part in order, printing one line per part with the time it took; then watch
the children twice a second. Ctrl-C (SIGINT) or SIGTERM stops every child (services together, then the
infrastructure together: about 2 s) and exits 0. A child that dies on its own is reported (name, exit code,
log file) and the whole stack stops with exit code 1: a silently half-running sync is worse than a stopped
one, and the log says why. Killed outright (SIGKILL), it still leaves nothing: the kernel kills every child.
"""

from __future__ import annotations

import gc
import signal
import time
from types import FrameType

import httpx
import typer

from infra.runner.process import ProcessFailed
from infra.runner.stack import INFRASTRUCTURE, PortTaken, Stack, StackSettings
from shared.settings import PLACEHOLDER_SECRETS, SANDBOX_ADMIN_TOKEN, SANDBOX_VIEWER_TOKEN

WATCH_INTERVAL_S = 0.5


class _Shutdown:
    """Signal handler: the first SIGINT/SIGTERM interrupts whatever runs (start-up or watching); later ones
    are ignored so they cannot cut the orderly stop short."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
            raise KeyboardInterrupt


def _secret(value: str, variable: str) -> str:
    """Sandbox placeholders are printed (a newcomer needs them); real secrets never are."""
    return value if value in PLACEHOLDER_SECRETS else f"(set in {variable})"


def _mailboxes(url: str) -> str:
    try:
        return ", ".join(row["address"] for row in httpx.get(url, timeout=2.0).json()) or "(none yet)"
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return "(could not list them)"


def describe(stack: Stack) -> list[str]:
    """What a newcomer needs to use the running stack: every URL and credential, one per line."""
    s, urls = stack.settings, stack.urls
    lines = [
        "",
        "Dynamics 365 Web API (sandbox)",
        f"  base URL        {urls['crm_api']}",
        f"  token endpoint  {urls['crm_token']}  (OAuth client credentials)",
        f"  client id       {s.crm_client_id}",
        f"  client secret   {_secret(s.crm_client_secret.get_secret_value(), 'FIELDSYNC_CRM_CLIENT_SECRET')}",
        "Exchange EWS (sandbox)",
        f"  endpoint        {urls['ews']}  (Basic auth, impersonation)",
        f"  service account {s.ews_username}",
        f"  password        {_secret(s.ews_password.get_secret_value(), 'FIELDSYNC_EWS_PASSWORD')}",
        f"  mailboxes       {_mailboxes(urls['ews_admin'])}",
    ]
    if "admin_api" in stack.service_names:
        lines += [
            "Admin API",
            f"  URL             {urls['admin_api']}   docs: {urls['admin_docs']}",
            f"  tokens          admin: {SANDBOX_ADMIN_TOKEN}   viewer: {SANDBOX_VIEWER_TOKEN}"
            if s.sandbox else "  tokens          (configured in FIELDSYNC_ADMIN_TOKENS)",
            f"  dashboard       {urls['dashboard']}   (asks for the viewer token)",
        ]
    metrics = stack.metrics_urls()
    if metrics:
        lines += ["Metrics (Prometheus)"] + [f"  {name:<15} {url}" for name, url in metrics.items()]
    lines += [
        f"Kafka bootstrap   {urls['bootstrap_servers']}",
        f"Redis             {urls['redis']}",
        f"Logs              {urls['logs']}",
        f"Services          {', '.join(_service_names(stack)) or '(none)'}",
    ]
    return lines


def _service_names(stack: Stack) -> list[str]:
    return [name for name in stack.service_names if name not in INFRASTRUCTURE]


def _ready_line(name: str, seconds: float, detail: str) -> None:
    typer.echo(f"  ready  {name:<17} {seconds:5.1f}s  {detail}")


def up() -> None:
    """Start the embedded stack (broker, Redis, sandboxes, every service) and keep it running until Ctrl-C."""
    settings = StackSettings()
    stack = Stack(settings, on_ready=_ready_line)
    try:
        stack.refuse_taken_ports()
    except PortTaken as exc:
        typer.echo(f"fieldsync: not starting: {exc}; stop it or choose another port", err=True)
        raise typer.Exit(1) from None
    shutdown = _Shutdown()
    previous = {sig: signal.signal(sig, shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    began = time.monotonic()
    try:
        typer.echo(f"fieldsync: starting the embedded stack (data in {settings.root})")
        stack.start()
        for line in describe(stack):
            typer.echo(line)
        typer.echo(f"fieldsync is up in {time.monotonic() - began:.1f}s: press Ctrl-C to stop")
        while (dead := stack.failed()) is None:
            time.sleep(WATCH_INTERVAL_S)
        typer.echo(
            f"fieldsync: {dead.name} exited with code {dead.popen.returncode if dead.popen else '?'}; "
            f"see {dead.log_path}. Stopping the stack.",
            err=True,
        )
        code = 1
    except KeyboardInterrupt:
        typer.echo(f"\nfieldsync: {shutdown.signal_name or 'SIGINT'} received, stopping")
    except ProcessFailed as exc:
        typer.echo(f"fieldsync: {exc}. Stopping the stack.", err=True)
        code = 1
    finally:
        stopping = time.monotonic()
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    took = f"in {time.monotonic() - stopping:.1f}s"
    typer.echo(f"fieldsync: stopped {took}, no process left behind" if code == 0
               else f"fieldsync: stopped {took} after a failure")
    # The interpreter's final collections walk the whole heap (pydantic, exchangelib, aiokafka): measured
    # 0.5-1 s on two busy cores, as long as stopping the stack. Nothing left needs collecting, so skip them.
    gc.freeze()
    raise typer.Exit(code)
