"""The registry of child processes the stack can run: the two sandboxes and every fieldsync service."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from infra.runner.process import port_open
from infra.runner.settings import StackSettings

Check = Callable[[], bool]


@dataclass(frozen=True)
class ChildSpec:
    """How to start one child and how to tell it is ready; `check` is None for "alive for settle_s"."""

    name: str
    command: list[str]
    check: Check | None
    detail: str = ""


def module_exists(name: str) -> bool:
    """True when `name` can be imported (a missing parent package counts as missing, not as an error)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def http_ok(url: str) -> Check:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=0.5).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def port_check(port: int) -> Check:
    return lambda: port_open("127.0.0.1", port)


def sandboxes(settings: StackSettings) -> list[ChildSpec]:
    python = sys.executable
    return [
        ChildSpec(
            "crm-sandbox", [python, "-m", "infra.sandbox.crm"], port_check(settings.crm_sandbox_port),
            f"{settings.crm_root}/api/data/v9.2/",
        ),
        ChildSpec(
            "exchange-sandbox", [python, "-m", "infra.sandbox.exchange"], port_check(settings.exchange_sandbox_port),
            f"{settings.exchange_root}/EWS/Exchange.asmx",
        ),
    ]


def _policy_command() -> list[str] | None:
    if module_exists("services.policy.__main__"):
        return [sys.executable, "-m", "services.policy"]
    if module_exists("services.policy.app"):
        return [sys.executable, "-m", "faust", "-A", "services.policy.app", "worker", "-l", "info"]
    return None


def _module_command(name: str) -> list[str] | None:
    if module_exists(f"services.{name}.__main__"):
        return [sys.executable, "-m", f"services.{name}"]
    return None


def _admin_api_command() -> list[str] | None:
    """The port comes from the child's environment (FIELDSYNC_ADMIN_API_PORT, StackSettings.child_env)."""
    return _module_command("admin_api")


def services(settings: StackSettings) -> list[ChildSpec]:
    """Every fieldsync service whose package exists (and that settings ask for), in start order:
    the consumers of a topic start before its producers, so nothing waits on a cold consumer group."""
    candidates: list[tuple[str, list[str] | None, Check | None, str]] = [
        ("recorder", _module_command("recorder"), None, ""),
        ("policy", _policy_command(), None, ""),
        ("crm_applier", _module_command("crm_applier"), None, ""),
        ("exchange_applier", _module_command("exchange_applier"), None, ""),
        ("crm_capture", _module_command("crm_capture"), None, ""),
        ("exchange_capture", _module_command("exchange_capture"), None, ""),
        (
            "admin_api", _admin_api_command(), http_ok(f"{settings.admin_root}/healthz"),
            f"{settings.admin_root}/docs",
        ),
    ]
    return [
        ChildSpec(name, command, check, detail)
        for name, command, check, detail in candidates
        if command is not None and settings.wanted(name)
    ]
