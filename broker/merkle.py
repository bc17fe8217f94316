"""RFC 9162 Merkle trees: tree hash, inclusion proofs, consistency proofs.

Written from RFC 9162 section 2.1: leaves hash as ``SHA-256(0x00 || d)``,
interior nodes as ``SHA-256(0x01 || left || right)``, and a tree of ``n`` leaves
splits at ``k``, the largest power of two smaller than ``n`` (2.1.1). Proof
verification follows the algorithms of 2.1.3.2 and 2.1.4.2 exactly, including
their checks that ``index < size`` and that the proof has no missing or extra
nodes — forged or padded proofs are refused (cf. GHSA-672p-m5jq-mrh8).

Example::

    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> proof = inclusion_proof(leaves, 3)
    >>> verify_inclusion(leaf_hash=leaves[3], index=3, size=5, proof=proof, root=root(leaves))
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from broker.errors import Error

__all__ = [
    "MerkleError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

_EMPTY = hashlib.sha256(b"").digest()


class MerkleError(Error):
    """An inclusion or consistency proof does not verify."""

    reason = "bad-proof"


def leaf_hash(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)`` (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash of the leaves (hash of the empty string if none)."""
    n = len(leaf_hashes)
    if n == 0:
        return _EMPTY
    level = list(leaf_hashes)
    # Bottom-up pairing gives the same tree as the RFC's recursive split: an odd node
    # at the end of a level is carried up unchanged.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Return the audit path of leaf ``index`` (RFC 9162 2.1.3.1)."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise MerkleError("leaf index out of range", detail=f"index {index}, size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaf_hashes[:k], index), root(leaf_hashes[k:])]
    return [*inclusion_proof(leaf_hashes[k:], index - k), root(leaf_hashes[:k])]


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an inclusion proof (RFC 9162 2.1.3.2); raise MerkleError if it fails."""
    if not 0 <= index < size:
        raise MerkleError("leaf index out of range", detail=f"index {index}, size {size}")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if len(p) != 32:
            raise MerkleError("malformed proof node")
        if sn == 0:
            raise MerkleError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("inclusion proof too short")
    if r != root:
        raise MerkleError("inclusion proof does not lead to the root")


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return the consistency proof from ``old_size`` to ``len(leaf_hashes)`` (2.1.4.1)."""
    n = len(leaf_hashes)
    if not 0 < old_size <= n:
        raise MerkleError("old size out of range", detail=f"old {old_size}, new {n}")
    return _subproof(old_size, leaf_hashes, complete=True)


def _subproof(m: int, leaves: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete=complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], complete=False), root(leaves[:k])]


def verify_consistency(
    *,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Verify a consistency proof (RFC 9162 2.1.4.2); raise MerkleError if it fails."""
    if not 0 < old_size <= new_size:
        raise MerkleError("sizes out of order", detail=f"old {old_size}, new {new_size}")
    if any(len(p) != 32 for p in proof):
        raise MerkleError("malformed proof node")
    if old_size == new_size:
        if proof:
            raise MerkleError("consistency proof must be empty for equal sizes")
        if old_root != new_root:
            raise MerkleError("roots differ for equal sizes")
        return
    path = list(proof)
    # Step 1: if old_size is an exact power of two, prepend the old root.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise MerkleError("consistency proof too short")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise MerkleError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("consistency proof too short")
    if fr != old_root or sr != new_root:
        raise MerkleError("consistency proof does not match the roots")
