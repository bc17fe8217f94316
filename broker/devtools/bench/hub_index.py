"""Benchmark the hub's PDQ index on synthetic, clustered reference hashes.

The references are half uniform random hashes and half clusters (20 members on
average, each a centre with every bit flipped with probability 1/32, so about 8
bits from its centre), because real PDQ hashes cluster and clusters fill MIH
buckets unevenly. Queries are 40 % planted near-duplicates of a random
reference at exactly ``i % 32`` bits (0..31: each must be found), 20 % decoys at
exactly 32..40 bits from a random reference (that reference must never be
returned), and 40 % uniform random hashes.

Figures: build time; throughput of one batch of ``queries`` (searched by ``workers``
threads, default every CPU; ``hub_queries_per_cpu_s`` is the same per second of CPU); the 99th
percentile of single-query latency; recall on planted pairs; false matches
(decoy sources returned, plus any result whose distance, recomputed from the
stored hashes, is over the threshold); a brute-force cross-check of a few
queries against every reference; peak RSS; and the wall time of one
``seizure``-sized batch. Times are wall clock (``_s``) with process CPU time
beside them (``_cpu_s``); each carries ``/proc/loadavg`` read just after it,
because the machine may be shared.

Run::

    python -m broker.devtools.bench.hub_index --reference 1000000 --queries 20000

Example::

    >>> r = run(reference=5_000, queries=400, seizure=1_000, repeat=1)
    >>> r["hub_recall"], r["hub_false_matches"]
    (1.0, 0)
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from broker.devtools.bench.memory import peak_rss_mib
from broker.matching.index import DEFAULT_THRESHOLD, Entries, HashIndex
from broker.matching.pdq import Words, distance

__all__ = ["flip_exactly", "main", "run", "synthetic_references"]

_T = TypeVar("_T")


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _random_words(rng: np.random.Generator, n: int) -> Words:
    return np.frombuffer(rng.bytes(n * 32), dtype=np.uint64).reshape(n, 4).copy()


def synthetic_references(
    rng: np.random.Generator, n: int, *, clustered: float = 0.5, cluster_size: int = 20
) -> Words:
    """Return ``n`` reference hashes, a ``clustered`` share of them in clusters."""
    n_clustered = int(n * clustered)
    centres = _random_words(rng, max(1, n_clustered // cluster_size))
    out = _random_words(rng, n)
    which = rng.integers(0, centres.shape[0], n_clustered)
    # AND of five random words sets each bit with probability 1/32.
    noise = _random_words(rng, n_clustered)
    for _ in range(4):
        noise &= _random_words(rng, n_clustered)
    out[:n_clustered] = centres[which] ^ noise
    return out[rng.permutation(n)]


def flip_exactly(rng: np.random.Generator, words: Words, bits: NDArray[np.intp]) -> Words:
    """Return ``words`` with exactly ``bits[i]`` distinct random bits of row ``i`` flipped."""
    out = words.copy()
    for first in range(0, words.shape[0], 20_000):
        part = slice(first, first + 20_000)
        rank = np.argsort(rng.random((out[part].shape[0], 256)), axis=1)
        mask = rank < bits[part, None]  # a random permutation: exactly bits[i] below bits[i]
        packed = np.packbits(mask, axis=1).view(">u8").astype(np.uint64)
        out[part] ^= packed
    return out


def _queries(
    rng: np.random.Generator, refs: Words, m: int
) -> tuple[Words, NDArray[np.intp], NDArray[np.intp]]:
    """Return queries, the source reference of each (-1: none), and the flipped bit count."""
    kind = np.arange(m) % 5  # 0, 1: planted; 2: decoy; 3, 4: random
    source = np.where(kind <= 2, rng.integers(0, refs.shape[0], m), -1)
    bits = np.where(kind <= 1, np.arange(m) % 32, 32 + np.arange(m) % 9)
    queries = _random_words(rng, m)
    has = np.nonzero(source >= 0)[0]
    queries[has] = flip_exactly(rng, refs[source[has]], bits[has])
    return queries, source.astype(np.intp), bits.astype(np.intp)


def _timed(fn: Callable[[], _T]) -> tuple[_T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run(
    *,
    reference: int,
    queries: int,
    seizure: int = 360_000,
    repeat: int = 3,
    threshold: int = DEFAULT_THRESHOLD,
    seed: int = 16,
    workers: int | None = None,
) -> dict[str, Any]:
    """Build an index of ``reference`` hashes, query it, and return the figures.

    Batches are searched by ``workers`` threads (default: every CPU this process may use).
    """
    rng = np.random.default_rng(seed)
    refs = synthetic_references(rng, reference)
    q, source, bits = _queries(rng, refs, queries)
    seize, _, _ = _queries(rng, refs, seizure)
    ids = np.arange(reference, dtype=np.uint64)
    out: dict[str, Any] = {"hub_reference_hashes": reference, "hub_queries": queries}

    builds = []
    index = HashIndex()
    for _ in range(repeat):
        index = HashIndex()  # drop the previous build before timing the next
        index, wall, cpu = _timed(functools.partial(_build, ids, refs, workers))
        builds.append((wall, cpu, _loadavg()))
    del refs
    wall, cpu, load = sorted(builds)[len(builds) // 2]
    out |= {"hub_build_s": round(wall, 2), "hub_build_cpu_s": round(cpu, 2)}
    out["hub_build_loadavg"] = load

    runs = []
    for _ in range(repeat):
        matches, wall, cpu = _timed(lambda: index.query_batch(q, threshold=threshold))
        runs.append((wall, cpu, _loadavg()))
    wall, cpu, load = sorted(runs)[len(runs) // 2]
    out |= {"hub_queries_per_s": round(queries / wall), "hub_queries_cpu_s": round(cpu, 2)}
    out["hub_queries_per_cpu_s"] = round(queries / cpu) if cpu else None
    out["hub_query_workers"] = index.workers
    out["hub_queries_loadavg"] = load

    single = []
    for i in range(min(queries, 300)):
        _, wall, _ = _timed(lambda i=i: index.query_batch(q[i : i + 1], threshold=threshold))  # type: ignore[misc]
        single.append(wall * 1000)
    out["hub_query_p99_ms"] = round(statistics.quantiles(single, n=100)[98], 2)
    out["hub_query_median_ms"] = round(statistics.median(single), 2)

    found = set(zip(matches.query.tolist(), matches.id.tolist(), strict=True))
    planted = [i for i in range(queries) if source[i] >= 0 and bits[i] <= threshold]
    decoys = [i for i in range(queries) if source[i] >= 0 and bits[i] > threshold]
    hits = sum((i, int(source[i])) in found for i in planted)
    stored = _stored_words(index, matches.id)
    beyond = int(np.count_nonzero(distance(stored, q[matches.query]) > threshold))
    wrong = int(np.count_nonzero(distance(stored, q[matches.query]) != matches.distance))
    out["hub_recall"] = hits / len(planted) if planted else 1.0
    out["hub_planted"] = len(planted)
    out["hub_false_matches"] = sum((i, int(source[i])) in found for i in decoys) + beyond
    out["hub_wrong_distances"] = wrong
    out |= _brute_force_check(index, q, matches, threshold, rows=min(queries, 10))

    result, wall, cpu = _timed(lambda: index.query_batch(seize, threshold=threshold))
    out |= {"hub_seizure_queries": seizure, "hub_seizure_matches": len(result)}
    out |= {"hub_seizure_s": round(wall, 2), "hub_seizure_cpu_s": round(cpu, 2)}
    # What the seizure would take with ``workers`` cores to itself (CPU time / workers).
    out["hub_seizure_cpu_per_worker_s"] = round(cpu / index.workers, 2)
    out["hub_seizure_loadavg"] = _loadavg()
    out["hub_peak_rss_mib"] = round(peak_rss_mib())
    out["hub_segments"] = index.stats()["pdq"]["segments"]
    # Last: a loaded copy beside the built one would double the peak above.
    out |= _persistence(index, q[:1000], threshold)
    return out


def _persistence(index: HashIndex, q: Words, threshold: int) -> dict[str, Any]:
    """Time a save and a verified (hash-checked, memory-mapped) load; compare answers."""
    with tempfile.TemporaryDirectory(prefix="hub-index-") as tmp:
        path = Path(tmp) / "index"
        _, save_s, _ = _timed(lambda: index.save(path))
        loaded, load_s, load_cpu = _timed(lambda: HashIndex.load(path))
        same = (
            loaded.query_batch(q, threshold=threshold).pairs()
            == index.query_batch(q, threshold=threshold).pairs()
        )
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        del loaded
    return {
        "hub_save_s": round(save_s, 2),
        "hub_load_s": round(load_s, 2),
        "hub_load_cpu_s": round(load_cpu, 2),
        "hub_load_same_answers": same,
        "hub_saved_mib": round(size / 2**20),
        "hub_persistence_loadavg": _loadavg(),
    }


def _build(ids: NDArray[np.uint64], refs: Words, workers: int | None = None) -> HashIndex:
    index = HashIndex(workers=workers)
    index.add(Entries(ids=ids, pdq=refs))
    return index


def _stored_words(index: HashIndex, ids: NDArray[np.uint64]) -> Words:
    """Return the stored hash of each id (bench ids are the row numbers of one segment)."""
    seg = index._pdq[0]  # the bench checks the index from outside its API
    return seg.words(ids.astype(np.intp))


def _brute_force_check(
    index: HashIndex, q: Words, matches: Any, threshold: int, *, rows: int
) -> dict[str, Any]:
    """Compare the index's answer for the first ``rows`` queries with a full scan."""
    seg = index._pdq[0]
    mismatches = 0
    for i in range(rows):
        truth: set[int] = set()
        for first in range(0, len(seg), 1_000_000):
            part = np.arange(first, min(len(seg), first + 1_000_000), dtype=np.intp)
            d = distance(seg.words(part), q[i : i + 1])
            truth |= set((part[d <= threshold]).tolist())
        got = set(matches.id[matches.query == i].tolist())
        mismatches += truth != got
    return {"hub_bruteforce_checked": rows, "hub_bruteforce_mismatches": mismatches}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark from the command line and print JSON."""
    parser = argparse.ArgumentParser(prog="python -m broker.devtools.bench.hub_index")
    parser.add_argument("--reference", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--seizure", type=int, default=360_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    result = run(
        reference=args.reference,
        queries=args.queries,
        seizure=args.seizure,
        repeat=args.repeat,
        threshold=args.threshold,
        workers=args.workers,
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
