"""The Exchange sandbox the EWS modules share: one per module, served on a free port with its own data folder.

(test_crm_tracking.py defines a `sandbox` of its own, the CRM sandbox, which takes precedence in that module.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.sandbox.exchange.server import ExchangeSandboxUrls, serve_exchange
from infra.sandbox.exchange.settings import ExchangeSandboxSettings


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeSandboxUrls]:
    settings = ExchangeSandboxSettings(data_dir=tmp_path_factory.mktemp("exchange"))
    with serve_exchange(settings, port=0) as urls:
        yield urls
