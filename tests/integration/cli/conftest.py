"""Fixtures the CLI tests share: per-test API tokens (the actor names audit entries carry)."""

from __future__ import annotations

import pytest

from tests.integration.admin_api.serving import Tokens


@pytest.fixture
def tokens() -> Tokens:
    return Tokens.fresh()
