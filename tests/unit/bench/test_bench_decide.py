"""bench/decide.py: one short run prints both modes and writes its figures; security on really withholds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.decide import NOW, main, one_pass, organisation, workload
from services.policy.security import Security
from services.policy.security_model import build
from shared.catalogue import load_catalogue
from shared.events import Policy


def test_a_short_run_reports_both_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "decide.json"
    assert main(["--users", "10", "--changes", "40", "--seconds", "0.05", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "security off:" in printed and "security  on:" in printed and "goal 100,000/s" in printed
    figures = json.loads(out.read_text())["figures"]
    assert [f["mode"] for f in figures] == ["off", "on"] and all(f["per_second"] > 0 for f in figures)


def test_the_workload_meets_security_on_the_decide_path() -> None:
    """Same number of decisions either way, but with security some fields are withheld for field security."""
    rng = random.Random(3)
    catalogue = load_catalogue()
    tables, users = organisation(12, rng)
    work = workload(catalogue, users, 60, rng)
    policy = Policy(version=1, updated_at=NOW, updated_by="t", directions=catalogue.default_directions())
    security = Security(build(tables, 1))
    assert one_pass(work, catalogue, policy, None) > 0
    assert one_pass(work, catalogue, policy, security) > 0
    assert security.fields(users[1], catalogue.entities["contact"]).unreadable  # user1 holds no profile
