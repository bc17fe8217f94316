"""A dedicated 3-node cluster for the chaos tests: they kill and pause its brokers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.devtools.chaos.scenarios import Context, Sizes
from broker.local import LocalCluster
from tests.conftest import _start

#: The smallest sizes that still exercise every fault (the whole module in a few minutes).
TINY = Sizes(
    broker_kill_dossiers=300,
    broker_down_s=3.0,
    pause_s=4.0,
    stream_rate=60.0,
    kill_rounds=1,
    kill_stream_s=2.5,
    load_rate=300.0,
    load_s=4.0,
    hostile=350,
    valid_every=10,
    stall_s=60.0,
)


@pytest.fixture(scope="module")
async def chaos_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    """A 3-node cluster of this module's own (stopped at the end, even on failure)."""
    cluster = await _start(tmp_path_factory.mktemp("chaos3"), 3)
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
def chaos(chaos_cluster: LocalCluster, tmp_path: Path) -> Context:
    """A scenario context on the dedicated cluster with tiny sizes."""
    return Context(cluster=chaos_cluster, workdir=tmp_path, sizes=TINY, say=lambda _: None)
