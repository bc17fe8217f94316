"""Shared fixtures: a real local Kafka for the session, and a 3-node cluster for cluster tests.

``KAFKA_BOOTSTRAP`` makes the 1-node fixture use an existing cluster instead.
Every JVM started here is stopped at the end of the session, even on failure.
"""

from __future__ import annotations

import asyncio
import atexit
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from broker.config import Settings
from broker.local import LocalCluster
from broker.transport import KafkaConnection

_started: list[LocalCluster] = []


def _kill_leftovers() -> None:
    for cluster in _started:
        for pid in cluster.running_pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


atexit.register(_kill_leftovers)


async def _start(tmp: Path, nodes: int, *, tls: bool = False) -> LocalCluster:
    cluster = await LocalCluster.start(
        state_dir=tmp, cache_dir=Settings().cache_dir, nodes=nodes, tls=tls
    )
    _started.append(cluster)
    return cluster


@pytest.fixture(scope="session")
async def kafka_cluster_1(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LocalCluster | None]:
    """A 1-node local Kafka (None when KAFKA_BOOTSTRAP points at an existing cluster)."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield None
        return
    cluster = await _start(tmp_path_factory.mktemp("kafka1"), 1)
    yield cluster
    await cluster.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_cluster_1: LocalCluster | None) -> str:
    """Bootstrap address of the session's real Kafka."""
    if kafka_cluster_1 is None:
        return os.environ["KAFKA_BOOTSTRAP"]
    return kafka_cluster_1.bootstrap


@pytest.fixture(scope="session")
def kafka_conn(kafka_bootstrap: str) -> KafkaConnection:
    """A plaintext connection to the session's Kafka."""
    return KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")


@pytest.fixture(scope="session")
async def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    """A real 3-node cluster (rf 3, min ISR 2) for tests marked ``cluster``."""
    cluster = await _start(tmp_path_factory.mktemp("kafka3"), 3)
    yield cluster
    await cluster.stop()


@pytest.fixture(scope="session")
async def kafka_tls_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LocalCluster]:
    """A real 1-node cluster with mutual TLS and ACLs enforced."""
    cluster = await _start(tmp_path_factory.mktemp("kafkatls"), 1, tls=True)
    yield cluster
    await cluster.stop()


@pytest.fixture
def unique() -> Iterator[str]:
    """A short unique suffix for topic and group names."""
    yield os.urandom(4).hex()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests using a Kafka fixture so ``-m 'not kafka'`` selects the unit tests."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"kafka_bootstrap", "kafka_conn", "kafka_cluster_1"}:
            item.add_marker(pytest.mark.kafka)
        if names & {"kafka_cluster", "kafka_tls_cluster"}:
            item.add_marker(pytest.mark.cluster)


# Session-scoped async fixtures need the session loop (pyproject sets the default scopes).
_ = asyncio
