"""The layout rule DESIGN.md sets: no service package imports another one (what two services share is in shared/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
PACKAGES = sorted(p.name for p in SERVICES.iterdir() if (p / "__init__.py").exists())


def imported_services(path: Path) -> set[str]:
    """The service packages a module imports (`services.x...`, `from services import x`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + ([f"services.{a.name}" for a in node.names] if node.module == "services" else [])
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("services.") and name.count(".") >= 1}
    return found


def test_the_rule_sees_an_import_of_another_service(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from services.crm_capture.diff import Change\nimport services.policy.decide\n")
    assert imported_services(module) == {"crm_capture", "policy"}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_service_imports_another(package: str) -> None:
    offences = {
        str(path.relative_to(SERVICES)): sorted(imported_services(path) - {package})
        for path in (SERVICES / package).rglob("*.py")
        if imported_services(path) - {package}
    }
    assert offences == {}
