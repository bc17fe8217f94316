"""Near-duplicate clusters that do not depend on arrival order, with opaque ids.

A cluster is a connected component of the graph whose nodes are PDQ rows and
whose edges join rows within the threshold. Components are a property of the
set of rows, not of the order they were added in, so adding the same rows in
any order gives the same clusters (unlike "join the cluster of the first hash
seen", which the hub index did). Components are found with one batched
self-join through :class:`~broker.matching.index.HashIndex` and min-label
propagation with pointer jumping.

A cluster's id is ``HMAC-SHA256(key, "broker.matching.cluster.v1" || 0x00 ||
hash || id)`` of its smallest member (by hash bytes, then id; both big-endian),
cut to 16 bytes (32 hex digits). It is deterministic, so the same rows and key
always give the same ids, and it leaks nothing about content: without the hub's
secret key it is indistinguishable from random, so an agency holding a
candidate image cannot confirm that its PDQ hash is a cluster's member, as it
could if the id were a plain hash of the member. Keys are made with
:func:`new_cluster_key` and kept with the hub's other secrets; rotating the key
renames every cluster.

Example::

    >>> import numpy as np
    >>> from broker.matching.pdq import parse_hex
    >>> words = parse_hex(["00" * 32, "00" * 31 + "01", "ff" * 32])
    >>> c = clusters_of(np.array([1, 2, 3], dtype=np.uint64), words, key=b"k" * 32)
    >>> sorted(len(m) for m in c.groups().values())
    [1, 2]
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from broker.errors import MatchingError
from broker.matching.index import DEFAULT_THRESHOLD, Entries, HashIndex
from broker.matching.pdq import Words

__all__ = ["Clusters", "cluster_name", "clusters_of", "link_clusters", "new_cluster_key"]

_DOMAIN = b"broker.matching.cluster.v1\x00"


def new_cluster_key() -> bytes:
    """Return a fresh 32-byte secret key for cluster ids."""
    return secrets.token_bytes(32)


def cluster_name(key: bytes, member: bytes, member_id: int = 0) -> str:
    """Return the opaque id (32 hex) of the cluster whose smallest member is ``member`` (32 bytes).

    >>> len(cluster_name(b"k" * 32, bytes(32)))
    32
    """
    message = _DOMAIN + member + int(member_id).to_bytes(8)
    return hmac.digest(key, message, "sha256")[:16].hex()


@dataclass(frozen=True, kw_only=True)
class Clusters:
    """Cluster of each row: ``names[label[i]]`` is the cluster id of ``ids[i]``."""

    ids: NDArray[np.uint64]
    pdq: Words
    label: NDArray[np.intp]
    names: tuple[str, ...]

    def cluster_of_rows(self) -> list[str]:
        """Return the cluster id of each row, in row order."""
        return [self.names[i] for i in self.label.tolist()]

    def groups(self) -> dict[str, frozenset[int]]:
        """Return each cluster id with the reference ids of its members."""
        out: dict[str, set[int]] = {}
        for name, ref in zip(self.cluster_of_rows(), self.ids.tolist(), strict=True):
            out.setdefault(name, set()).add(ref)
        return {name: frozenset(members) for name, members in out.items()}


def _components(n: int, a: NDArray[np.intp], b: NDArray[np.intp]) -> NDArray[np.intp]:
    """Return, for each of ``n`` nodes, the smallest node of its connected component."""
    label = np.arange(n, dtype=np.intp)
    while True:
        la, lb = label[a], label[b]
        low = np.minimum(la, lb)
        new = label.copy()
        # Hook each edge's larger root under the smaller one (label[x] <= x always).
        np.minimum.at(new, la, low)
        np.minimum.at(new, lb, low)
        while True:  # pointer jumping: point every node straight at its root
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            return label
        label = new


def clusters_of(
    ids: NDArray[np.uint64], pdq: Words, *, key: bytes, threshold: int = DEFAULT_THRESHOLD
) -> Clusters:
    """Cluster rows ``(ids[i], pdq[i])`` by near-duplicate links within ``threshold``."""
    if len(key) < 16:
        raise MatchingError("cluster key must be at least 16 bytes")
    n = int(ids.shape[0])
    rows = HashIndex()
    rows.add(Entries(ids=np.arange(n, dtype=np.uint64), pdq=np.ascontiguousarray(pdq)))
    links = rows.query_batch(pdq, threshold=threshold)
    root = _components(n, links.query, links.id.astype(np.intp))
    # The smallest member of each component, by (hash words, id): rank every row.
    order = np.lexsort((ids, pdq[:, 3], pdq[:, 2], pdq[:, 1], pdq[:, 0]))
    rank = np.empty(n, dtype=np.intp)
    rank[order] = np.arange(n, dtype=np.intp)
    best = np.full(n, n, dtype=np.intp)
    np.minimum.at(best, root, rank)
    roots, label = np.unique(root, return_inverse=True)
    names = []
    for r in roots.tolist():
        member = int(order[best[r]])
        names.append(cluster_name(key, pdq[member].astype(">u8").tobytes(), int(ids[member])))
    return Clusters(ids=ids, pdq=pdq, label=label.astype(np.intp), names=tuple(names))


def link_clusters(index: HashIndex, *, key: bytes, threshold: int = DEFAULT_THRESHOLD) -> Clusters:
    """Cluster every live PDQ row of ``index``."""
    ids, pdq = index.pdq_rows()
    return clusters_of(ids, pdq, key=key, threshold=threshold)
