"""RFC 9162 Merkle trees: tree hash, inclusion and consistency proofs, incremental trees.

Leaves hash as ``SHA-256(0x00 || d)``, nodes as ``SHA-256(0x01 || l || r)``
(RFC 9162 2.1.1). Two modules:

* :mod:`broker.merkle.verify` — hashing and the proof verifiers (2.1.3.2,
  2.1.4.2), small enough to audit on its own; raises :class:`MerkleError`.
* :mod:`broker.merkle.tree` — proof generation (2.1.3.1, 2.1.4.1), the
  ``O(log n)``-memory :class:`CompactRange` frontier for replaying a log, and the
  full :class:`MerkleTree` that serves proofs at any earlier size.

Everything public is re-exported here: ``from broker import merkle``.

Example::

    >>> from broker import merkle
    >>> leaves = [merkle.leaf_hash(bytes([i])) for i in range(5)]
    >>> proof = merkle.inclusion_proof(leaves, 3)
    >>> merkle.verify_inclusion(leaf_hash=leaves[3], index=3, size=5, proof=proof,
    ...                         root=merkle.root(leaves))
    >>> old_root = merkle.root(leaves[:2])
    >>> merkle.verify_consistency(old_size=2, new_size=5, old_root=old_root,
    ...                           new_root=merkle.root(leaves),
    ...                           proof=merkle.consistency_proof(leaves, 2))
"""

from __future__ import annotations

from broker.errors import MerkleError
from broker.merkle.tree import CompactRange, MerkleTree, consistency_proof, inclusion_proof
from broker.merkle.verify import (
    EMPTY_ROOT,
    HASH_SIZE,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleError",
    "MerkleTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]
