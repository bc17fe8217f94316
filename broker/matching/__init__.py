"""Reference-hash matching for the hub: PDQ near-duplicates and exact SHA-256 / MD5.

:class:`HashIndex` holds reference hash lists (tens of millions of rows) and
answers batched queries with recall 1.0: every reference within the PDQ
threshold is returned, and nothing beyond it. See ``docs/matching.md`` for the
algorithm, the exactness argument, the file format and measured figures.

Example::

    >>> idx = HashIndex()
    >>> idx.add(Entries.parse([1], pdq=["ab" * 32], sha256=["cd" * 32]))
    >>> idx.query_batch(["ab" * 32]).pairs(), idx.lookup_exact(["cd" * 32], kind="sha256").pairs()
    ([(0, 1, 0)], [(0, 1, 0)])
"""

from __future__ import annotations

from broker.matching.clusters import (
    Clusters,
    cluster_name,
    clusters_of,
    link_clusters,
    new_cluster_key,
)
from broker.matching.index import DEFAULT_THRESHOLD, Entries, ExactKind, HashIndex, Matches
from broker.matching.mih import MAX_THRESHOLD, Layout
from broker.matching.pdq import distance, parse_hex, to_hex

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_THRESHOLD",
    "Clusters",
    "Entries",
    "ExactKind",
    "HashIndex",
    "Layout",
    "Matches",
    "cluster_name",
    "clusters_of",
    "distance",
    "link_clusters",
    "new_cluster_key",
    "parse_hex",
    "to_hex",
]
