"""CI enforces the linters: `ruff check .` and `mypy shared services infra` pass from the repo root (as `make lint`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = {
    "ruff": [sys.executable, "-m", "ruff", "check", "."],
    "mypy": [sys.executable, "-m", "mypy", "shared", "services", "infra"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_linter_passes(name: str) -> None:
    done = subprocess.run(COMMANDS[name], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{' '.join(COMMANDS[name][2:])} failed:\n{done.stdout}{done.stderr}"
