"""``broker bench hub``: the hub's hash matching at list scale, and a list update's latency.

Runs :func:`broker.devtools.bench.hub_index.run` (synthetic references, half in clusters;
queries planted at every distance 0..31, decoys at 32..40, random; batch throughput, p99,
recall, false matches, a 360,000-hash seizure, peak RSS; batches are searched by
``workers`` threads sharing the one index, default every CPU), optionally splits the seizure
over several single-threaded processes that share the saved, memory-mapped snapshot
(``hub_seizure_processes``), and measures ``hub_update_visible_s`` on a real Kafka: a signed
list update is published and timed until the hub's :class:`~broker.hashlist.ListFollower`
has applied it to a list index holding the ``N`` references (so the add lands in the big
index).

Example::

    $ broker bench hub --reference 1000000 --queries 20000 --json
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from broker.config import Settings
from broker.devtools.bench.hub_index import _loadavg, _queries, synthetic_references
from broker.devtools.bench.hub_index import run as run_index
from broker.devtools.bench.kafka import bench_kafka
from broker.devtools.bench.workload import BenchError
from broker.errors import MatchingError
from broker.federation import init_federation
from broker.hashlist import ListFollower, ListState, ListUpdate, publish_updates
from broker.hashlist.update import next_version
from broker.matching import DEFAULT_THRESHOLD, Entries, HashIndex
from broker.topics import HUB, TopicLayout
from broker.transport import KafkaConnection
from broker.trust import load_identity, load_trust

__all__ = ["run"]

_OWNER = "NL-HOT"
#: Ids of the synthetic references in the list index (far above SQLite's row ids).
_BASE_ID = 1 << 40


_CHILD: dict[str, HashIndex] = {}


def _load_child(path: str) -> None:
    # Memory-mapped: the page cache is shared. One thread each: the processes are the workers.
    _CHILD["index"] = HashIndex.load(Path(path), workers=1)


def _ready(_: int) -> bool:
    time.sleep(0.5)  # long enough that every worker takes one
    return "index" in _CHILD


def _query_part(words: np.ndarray, threshold: int) -> int:
    return len(_CHILD["index"].query_batch(words, threshold=threshold))


def _parallel_seizure(
    reference: int, queries: int, seizure: int, processes: int, seed: int, threshold: int
) -> dict[str, Any]:
    """Save an index of ``reference`` hashes, then query the seizure in ``processes`` children."""
    rng = np.random.default_rng(seed)  # the same draws as hub_index.run: the same seizure
    refs = synthetic_references(rng, reference)
    _queries(rng, refs, queries)
    seize, _, _ = _queries(rng, refs, seizure)
    index = HashIndex()
    index.add(Entries(ids=np.arange(reference, dtype=np.uint64), pdq=refs))
    del refs
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        index.save(Path(tmp) / "idx")
        del index
        parts = np.array_split(seize, processes)
        ctx = mp.get_context("spawn")
        path = str(Path(tmp) / "idx")
        with ctx.Pool(processes, initializer=_load_child, initargs=(path,)) as pool:
            loaded = pool.map(_ready, range(processes), chunksize=1)  # loaded before timing
            start = time.perf_counter()
            matches = pool.starmap(_query_part, [(p, threshold) for p in parts], chunksize=1)
            wall = time.perf_counter() - start
            if not all(loaded):
                raise MatchingError("a seizure worker did not load the index")
    return {
        "hub_seizure_processes": processes,
        "hub_seizure_parallel_s": round(wall, 2),
        "hub_seizure_parallel_matches": sum(matches),
        "hub_seizure_parallel_loadavg": _loadavg(),
    }


async def _update_visible(bootstrap: str, root: Path, index: HashIndex) -> float:
    """Publish one list update; return seconds until the hub's list state matches it."""
    settings = Settings(home=root / "home", kafka_bootstrap=bootstrap, topic_prefix="benchhub")
    init_federation(settings, agencies=[_OWNER, HUB])
    trust = load_trust(settings)
    owner = load_identity(settings, agency=_OWNER, trust=trust)
    layout = TopicLayout(prefix=settings.topic_prefix)
    conn = KafkaConnection(bootstrap=bootstrap, client_id="bench-hub")
    state = ListState(sqlite3.connect(":memory:", isolation_level=None), snapshot=None)
    state.index = index  # the N references: the update is added to the big index
    digest = "5e" * 32

    def update(entry: str, sha: str) -> ListUpdate:
        return ListUpdate(
            list="bench", owner=_OWNER, key_id=owner.signing.key_id, entry_id=entry,
            version=next_version(), op="ADD", sha256=sha, category="A",
        )  # fmt: skip

    # Create the topic (and warm the producer path) before timing.
    await publish_updates(conn, layout=layout, identity=owner, updates=[update("warm", "5f" * 32)])
    follower = ListFollower(conn=conn, layout=layout, state=state, trust=trust, agency=HUB)
    async with follower:
        await follower.catch_up(idle_s=1.0)
        start = time.perf_counter()
        await publish_updates(conn, layout=layout, identity=owner, updates=[update("e1", digest)])
        visible = None
        while visible is None:  # the hub's follower loop, polling as it does when running
            await follower.poll(timeout_ms=200)
            if state.match(sha256=[digest]):
                visible = time.perf_counter() - start
            elif follower.rejected > 1 or time.perf_counter() - start > 120:
                raise BenchError(
                    "the list update never became visible", detail=str(follower.rejected)
                )
    return visible


async def _with_kafka(bootstrap: str | None, index: HashIndex) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-hub-kafka-") as tmp:
        root = Path(tmp)
        async with bench_kafka(root, bootstrap=bootstrap) as (kafka, _):
            return await _update_visible(kafka, root, index)


def run(
    *,
    reference: int,
    queries: int,
    seizure: int = 360_000,
    repeat: int = 1,
    processes: int = 1,
    bootstrap: str | None = None,
    kafka: bool = True,
    threshold: int = DEFAULT_THRESHOLD,
    seed: int = 16,
    workers: int | None = None,
) -> dict[str, Any]:
    """Return every ``hub_*`` figure (see the module docstring)."""
    out = run_index(
        reference=reference, queries=queries, seizure=seizure, repeat=repeat,
        threshold=threshold, seed=seed, workers=workers,
    )  # fmt: skip
    out["hub_update_visible_s"] = None
    if kafka:
        rng = np.random.default_rng(seed)
        refs = synthetic_references(rng, reference)
        index = HashIndex()
        ids = np.arange(_BASE_ID, _BASE_ID + reference, dtype=np.uint64)
        index.add(Entries(ids=ids, pdq=refs))
        del refs
        visible = asyncio.run(_with_kafka(bootstrap, index))
        out["hub_update_visible_s"] = round(visible, 3)
        out["hub_update_visible_loadavg"] = _loadavg()
        del index
    if processes > 1:
        out |= _parallel_seizure(reference, queries, seizure, processes, seed, threshold)
    return out
