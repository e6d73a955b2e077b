"""docker-compose.yml checked without a Docker engine (a plain test): structure, commands naming real code."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.runner.services import module_exists
from tests.unit.test_example_env import settings_classes, variables_of

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "infra/docker/Dockerfile"
PIPELINE = ("crm-capture", "exchange-capture", "policy", "crm-applier", "exchange-applier", "recorder", "admin-api")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def built_here(service: dict[str, Any]) -> bool:
    return isinstance(service.get("build"), dict) and service["build"].get("dockerfile") == DOCKERFILE


def command_target(command: list[str]) -> tuple[str, str | None]:
    """(module, attribute or None) a command runs: python -m M, uvicorn --factory M:F, faust -A M."""
    if command[:2] == ["python", "-m"]:
        return command[2], None
    if command[0] == "uvicorn":
        module, _, attribute = next(a for a in command[1:] if not a.startswith("-")).partition(":")
        return module, attribute
    if command[0] == "faust" and "-A" in command:
        return command[command.index("-A") + 1], None
    raise AssertionError(f"unrecognised command form: {command}")


def test_structure_and_the_one_dockerfile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "redis", "topics", "crm-sandbox", "exchange-sandbox", *PIPELINE} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert "--appendonly" in services["redis"]["command"] and "redis-data:/data" in services["redis"]["volumes"]
    assert services["crm-sandbox"]["profiles"] == ["sandbox"] == services["exchange-sandbox"]["profiles"]
    assert (ROOT / DOCKERFILE).is_file()
    dockerfile = (ROOT / DOCKERFILE).read_text()
    assert "FROM python:3.11-slim" in dockerfile and "--require-hashes -r requirements.lock" in dockerfile
    for name, service in services.items():
        assert "image" in service, name
        if name not in ("kafka", "redis", "prometheus", "grafana"):
            assert built_here(service), name
    for volume in (v.split(":")[0] for s in services.values() for v in s.get("volumes", [])):
        assert volume.startswith("./") or volume in compose["volumes"], volume


def test_infrastructure_has_healthchecks_and_the_pipeline_waits_for_it(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "redis", "crm-sandbox", "exchange-sandbox", "admin-api"):
        assert services[name]["healthcheck"]["test"], name
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in PIPELINE:
        depends = services[name]["depends_on"]
        assert depends["kafka"]["condition"] == depends["redis"]["condition"] == "service_healthy", name
        assert depends["topics"]["condition"] == "service_completed_successfully", name
        assert depends["crm-sandbox"]["required"] is False, name  # absent when the sandbox profile is off
    targets = [dep for s in services.values() for dep in s.get("depends_on", {})]
    assert set(targets) <= set(services)


def test_every_command_names_code_that_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if not built_here(service):
            continue
        module, attribute = command_target(service["command"])
        assert module_exists(module), f"{name}: no module {module}"
        if module.startswith("services.") and attribute is None:
            assert module_exists(module + ".__main__") or module.endswith(".app"), f"{name}: {module} is not runnable"
        if attribute is not None:
            factory = getattr(importlib.import_module(module), attribute, None)
            assert callable(factory), f"{name}: no {module}:{attribute}"


def test_every_variable_set_is_a_known_setting(compose: dict[str, Any]) -> None:
    known = set().union(*(variables_of(cls) for cls in settings_classes()))
    for name, service in compose["services"].items():
        if not built_here(service):
            continue
        variables = set(service.get("environment", {}))
        assert variables, name
        assert variables - known == set(), f"{name} sets variables no Settings class reads"
