"""Session fixtures: one real broker and one real redis-server on free ports, started once, stopped at the end.

The default is the embedded stack (Tansu, redis-server); FIELDSYNC_TEST_INFRA=containers runs Apache Kafka and
Redis through testcontainers instead, where a Docker engine exists (tests/containers.py).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings

from infra.kafka.topics import ensure_topics
from infra.runner.infra import broker, broker_ready, redis_process, redis_ready
from tests import containers
from tests.e2e.shared_stack import MODULES, SHARED, SharedStackScheduling
from tests.support import free_port

# Time never decides a test: hypothesis' default 200 ms deadline per example failed a pure property test when the
# 2-core machine was busy. Speed targets live in bench/, not in tests.
settings.register_profile("fieldsync", deadline=None)
settings.load_profile("fieldsync")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` (make test) with the shared-stack modules as one unit (tests/e2e/shared_stack.py)."""
    return SharedStackScheduling(config, log) if config.getvalue("dist") == "loadfile" else None


@pytest.fixture(scope="module", autouse=True)
def _shared_stack_stopped_elsewhere(request: pytest.FixtureRequest) -> None:
    """A module that does not use the shared stack stops it first: it would only idle beside this module."""
    if request.node.nodeid not in MODULES:
        SHARED.release()


def pytest_sessionfinish(session: pytest.Session) -> None:
    SHARED.release()


REDIS_DATABASES = 64
_db_numbers = itertools.cycle(range(1, REDIS_DATABASES))


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def redis_host_port(infra_dir: Path) -> Iterator[tuple[str, int]]:
    if containers.SELECTED:
        with containers.redis_container() as host_port:
            yield host_port
        return
    port = free_port()
    proc = redis_process(port, infra_dir / "redis", infra_dir / "logs", databases=REDIS_DATABASES).start()
    try:
        proc.wait_ready(lambda: redis_ready(port))
        yield "127.0.0.1", port
    finally:
        proc.stop()


@pytest.fixture
def redis_url(redis_host_port: tuple[str, int]) -> str:
    """A dedicated, empty database of the session's redis-server (databases rotate; each is flushed first)."""
    host, port = redis_host_port
    db = next(_db_numbers)
    redis.Redis(host=host, port=port, db=db).flushdb()
    return f"redis://{host}:{port}/{db}"


@pytest.fixture(scope="session")
def kafka_bootstrap(infra_dir: Path) -> Iterator[str]:
    """The session's broker with every fieldsync topic created (consumers should use unique group ids)."""
    if containers.SELECTED:
        with containers.kafka_container() as bootstrap:
            asyncio.run(ensure_topics(bootstrap, partitions=3))
            yield bootstrap
        return
    port = free_port()
    proc = broker(port, infra_dir / "logs").start()
    try:
        proc.wait_ready(lambda: broker_ready(port))
        bootstrap = f"127.0.0.1:{port}"
        asyncio.run(ensure_topics(bootstrap, partitions=3))
        yield bootstrap
    finally:
        proc.stop()
