"""The Kafka a benchmark runs against: the one given, or a 1-node local one it starts.

Example (not run here: it starts a JVM)::

    async with bench_kafka(root, bootstrap=None) as (bootstrap, cluster):
        ...  # cluster is the LocalCluster started under root/kafka, stopped on exit
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from broker.config import Settings
from broker.local import LocalCluster

__all__ = ["bench_kafka"]


@contextlib.asynccontextmanager
async def bench_kafka(
    root: Path, *, bootstrap: str | None
) -> AsyncIterator[tuple[str, LocalCluster | None]]:
    """Yield ``(bootstrap, None)`` for a given Kafka, else start a 1-node local Kafka under
    ``root / "kafka"`` (jars from the cache), yield ``(its bootstrap, it)`` and stop it."""
    if bootstrap is not None:
        yield bootstrap, None
        return
    cluster = await LocalCluster.start(
        state_dir=root / "kafka", cache_dir=Settings().cache_dir, nodes=1
    )
    try:
        yield cluster.bootstrap, cluster
    finally:
        await cluster.stop()
