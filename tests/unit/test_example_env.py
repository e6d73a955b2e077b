"""infra/env/example.env lists every FIELDSYNC_ setting of every Settings class in shared/, infra/ and services/."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "infra" / "env" / "example.env"
PACKAGES = ("shared", "infra", "services")
_ASSIGNMENT = re.compile(r"^#?\s*(FIELDSYNC_[A-Z0-9_]+)=", re.MULTILINE)


def settings_classes() -> list[type[BaseSettings]]:
    """Import every module of the three packages (not __main__ entry points), then collect the subclasses."""
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    found: list[type[BaseSettings]] = []
    pending = list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES and cls not in found:
            found.append(cls)
    return found


def variables_of(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return {(prefix + name).upper() for name in cls.model_fields}


def listed() -> set[str]:
    return set(_ASSIGNMENT.findall(EXAMPLE.read_text(encoding="utf-8")))


def test_every_setting_is_listed_in_example_env() -> None:
    classes = settings_classes()
    assert len(classes) >= 5, classes  # the collector found the settings at all
    missing = {
        f"{variable} ({cls.__module__}.{cls.__qualname__})"
        for cls in classes
        for variable in variables_of(cls)
        if variable not in listed()
    }
    assert not missing, "add these to infra/env/example.env: " + ", ".join(sorted(missing))


def test_every_listed_variable_is_a_setting() -> None:
    known = set().union(*(variables_of(cls) for cls in settings_classes()))
    assert listed() - known == set(), "example.env lists variables no Settings class reads"


def test_every_setting_uses_the_fieldsync_prefix() -> None:
    assert all(cls.model_config.get("env_prefix") == "FIELDSYNC_" for cls in settings_classes())
