"""Testcontainers variants of the session infrastructure: Apache Kafka (KRaft) and Redis in Docker.

Selected with FIELDSYNC_TEST_INFRA=containers where a Docker engine exists; the default is the embedded
stack (Tansu and redis-server), which needs no Docker. Without an engine the variants skip with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SELECTED = os.environ.get("FIELDSYNC_TEST_INFRA", "embedded") == "containers"


def docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # any failure to reach an engine means "no engine here"
        return False


def require_docker() -> None:
    if not docker_available():
        pytest.skip("FIELDSYNC_TEST_INFRA=containers but no Docker engine is reachable")


@contextmanager
def kafka_container() -> Iterator[str]:
    require_docker()
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:3.9.0").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@contextmanager
def redis_container() -> Iterator[tuple[str, int]]:
    require_docker()
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7", command="redis-server --appendonly yes --databases 64") as container:
        yield container.get_container_host_ip(), int(container.get_exposed_port(6379))
