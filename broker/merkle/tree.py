"""Incremental RFC 9162 trees and proof generation.

* :class:`CompactRange` keeps only the ``O(log n)`` perfect subtrees of the
  current tree (its *frontier*): append is ``O(1)`` amortised node hashes, the
  root ``O(log n)``. The auditor replays millions of events through it and
  compares the root at every checkpoint size.
* :class:`MerkleTree` keeps every perfect subtree (about two hashes per leaf) and
  answers roots, inclusion proofs and consistency proofs *at any size up to its
  own* in ``O(log n)`` lookups; the log writer and the exporter use it.
* :func:`inclusion_proof` and :func:`consistency_proof` build a tree from a list
  of leaf hashes and return one proof: ``O(n)``, for one-off use.

Proofs follow the recursive definitions of RFC 9162 2.1.3.1 (``PATH``) and
2.1.4.1 (``PROOF``/``SUBPROOF``), unrolled into a walk from the root.

Example::

    >>> from broker.merkle.verify import leaf_hash, root, verify_consistency
    >>> leaves = [leaf_hash(bytes([i])) for i in range(7)]
    >>> frontier = CompactRange()
    >>> frontier.extend(leaves)
    >>> frontier.size, frontier.root() == root(leaves)
    (7, True)
    >>> tree = MerkleTree.from_leaf_hashes(leaves)
    >>> tree.root(3) == root(leaves[:3])
    True
    >>> verify_consistency(old_size=3, new_size=7, old_root=tree.root(3),
    ...                    new_root=tree.root(), proof=tree.consistency_proof(3))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

from broker.errors import MerkleError
from broker.merkle.verify import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = ["CompactRange", "MerkleTree", "consistency_proof", "inclusion_proof"]


def _split(n: int) -> int:
    """Return k, the largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Return the inclusion proof ``PATH(index, D[n])`` (RFC 9162 2.1.3.1)."""
    return MerkleTree.from_leaf_hashes(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return the consistency proof ``PROOF(old_size, D[n])`` (RFC 9162 2.1.4.1)."""
    return MerkleTree.from_leaf_hashes(leaf_hashes).consistency_proof(old_size)


class CompactRange:
    """The frontier of a growing tree: ``O(log n)`` hashes, root at the current size.

    The frontier holds the roots of the perfect subtrees the tree decomposes into,
    largest (leftmost) first: one per set bit of ``size``.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._nodes: list[bytes] = []
        self._size = 0

    @classmethod
    def from_frontier(cls, *, size: int, nodes: Sequence[bytes]) -> CompactRange:
        """Rebuild from a saved :attr:`frontier` (one hash per set bit of ``size``)."""
        if size < 0 or len(nodes) != size.bit_count():
            raise MerkleError(
                "frontier does not match the size", detail=f"{len(nodes)} nodes for {size}"
            )
        if any(len(n) != HASH_SIZE for n in nodes):
            raise MerkleError("frontier node is not a hash")
        rng = cls()
        rng._nodes = list(nodes)
        rng._size = size
        return rng

    @property
    def size(self) -> int:
        """Return the number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> list[bytes]:
        """Return the perfect-subtree roots, largest first (enough to resume appending)."""
        return list(self._nodes)

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash (``O(1)`` amortised node hashes)."""
        if len(leaf_hash) != HASH_SIZE:
            raise MerkleError("not a leaf hash", detail=f"{len(leaf_hash)} bytes")
        h, n, nodes = leaf_hash, self._size, self._nodes
        # Each trailing one bit of the old size is a perfect subtree of the same height
        # as the one being completed: merge them (the binary counter's carry).
        while n & 1:
            h = sha256(b"\x01" + nodes.pop() + h).digest()
            n >>= 1
        nodes.append(h)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append every leaf hash in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """Return the tree hash at the current size (``O(log n)``)."""
        nodes = self._nodes
        if not nodes:
            return EMPTY_ROOT
        # Fold right to left: the RFC's split puts the largest perfect subtree on the
        # left of every level (2.1.1), so the smaller ones combine first.
        r = nodes[-1]
        for left in reversed(nodes[:-1]):
            r = sha256(b"\x01" + left + r).digest()
        return r


class MerkleTree:
    """An append-only tree that serves roots and proofs at any size up to its own.

    ``_levels[h][j]`` is the hash of the perfect subtree of ``2**h`` leaves starting
    at leaf ``j * 2**h``; only complete subtrees are stored.
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MerkleTree:
        """Build a tree from leaf hashes."""
        tree = cls()
        for h in leaf_hashes:
            tree.append(h)
        return tree

    @property
    def size(self) -> int:
        """Return the number of leaves."""
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash (``O(1)`` amortised node hashes)."""
        if len(leaf_hash) != HASH_SIZE:
            raise MerkleError("not a leaf hash", detail=f"{len(leaf_hash)} bytes")
        levels = self._levels
        levels[0].append(leaf_hash)
        height = 0
        # A level whose length became even has just completed a pair: hash it up.
        while len(levels[height]) % 2 == 0:
            row = levels[height]
            parent = node_hash(row[-2], row[-1])
            height += 1
            if height == len(levels):
                levels.append([])
            levels[height].append(parent)

    def leaf(self, index: int) -> bytes:
        """Return the leaf hash at ``index``."""
        return self._levels[0][index]

    def _mth(self, lo: int, hi: int) -> bytes:
        """Return MTH(D[lo:hi]) for a range the RFC's recursion visits.

        Such a range is a perfect aligned subtree, or the right edge of one: ``lo`` is
        a multiple of the power of two covering ``hi - lo``.
        """
        n = hi - lo
        height = (n - 1).bit_length()
        if n == 1 << height:
            return self._levels[height][lo >> height]
        k = _split(n)  # 2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _size_arg(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise MerkleError("size beyond the tree", detail=f"size {size} of {self.size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Return the tree hash at ``size`` leaves (default: all)."""
        n = self._size_arg(size)
        return EMPTY_ROOT if n == 0 else self._mth(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return ``PATH(index, D[size])`` (RFC 9162 2.1.3.1)."""
        n = self._size_arg(size)
        if not 0 <= index < n:
            raise MerkleError("leaf index out of range", detail=f"index {index}, size {n}")
        # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])     if m < k
        #               = PATH(m - k, D[k:n]) : MTH(D[0:k]) if m >= k
        # Descend from the root collecting siblings; the RFC lists them leaf first.
        siblings: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                siblings.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                siblings.append(self._mth(lo, lo + k))
                lo += k
        siblings.reverse()
        return siblings

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return ``PROOF(old_size, D[new_size])`` (RFC 9162 2.1.4.1)."""
        n = self._size_arg(new_size)
        if not 0 <= old_size <= n:
            raise MerkleError("old size out of range", detail=f"old {old_size}, new {n}")
        if old_size in (0, n):
            return []
        # SUBPROOF(m, D[m], true)  = {}
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          if m <= k
        #                      = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k
        nodes: list[bytes] = []
        m, lo, hi, complete = old_size, 0, n, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                nodes.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                nodes.append(self._mth(lo, lo + k))
                m, lo, complete = m - k, lo + k, False
        if not complete:
            nodes.append(self._mth(lo, hi))
        nodes.reverse()
        return nodes
