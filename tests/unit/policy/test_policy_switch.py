"""is_newer(): which policy the running worker switches to (a higher version that is not older in time)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.policy.handler import is_newer
from shared.events import Policy
from tests.policy_builders import NOW


def at(version: int, seconds: int = 0) -> Policy:
    return Policy(version=version, updated_at=NOW + timedelta(seconds=seconds), updated_by="t", directions={})


@pytest.mark.parametrize(
    ("current", "candidate", "newer"),
    [
        (None, at(1), True),
        (at(1), at(2, 5), True),
        (at(2), at(2, 5), False),  # same version: a replay
        (at(3), at(2, 5), False),  # older version
        (at(1, 10), at(5, 0), False),  # a higher version from before the store was reset
    ],
)
def test_switch_rule(current: Policy | None, candidate: Policy, newer: bool) -> None:
    assert is_newer(current, candidate) is newer
