"""RFC 9162 tree hashing and proof verification: the part an auditor must trust.

Written from RFC 9162 section 2.1 (the same tree as RFC 6962 section 2.1): leaves
hash as ``SHA-256(0x00 || d)``, interior nodes as ``SHA-256(0x01 || left || right)``,
a tree of ``n > 1`` leaves splits at ``k``, the largest power of two strictly
smaller than ``n`` (2.1.1), and the empty tree hashes to ``SHA-256("")``.

The verifiers follow the bit-walking algorithms of 2.1.3.2 (inclusion) and
2.1.4.2 (consistency) step for step, including their checks that
``index < size`` and that every proof node is consumed. On top of the RFC they
refuse any hash that is not 32 bytes. So a proof with a missing, extra, padded
or wrong-sized node fails (cf. immudb GHSA-672p-m5jq-mrh8, whose SDKs accepted
forged proofs).

Example::

    >>> a, b = leaf_hash(b"a"), leaf_hash(b"b")
    >>> root([a, b]) == node_hash(a, b)
    True
    >>> verify_inclusion(leaf_hash=b, index=1, size=2, proof=[a], root=root([a, b]))
    >>> verify_inclusion(leaf_hash=b, index=2, size=2, proof=[a], root=root([a, b]))
    Traceback (most recent call last):
    ...
    broker.errors.MerkleError: Merkle proof does not verify
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

from broker.errors import MerkleError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

#: Size in bytes of every hash in the tree (SHA-256).
HASH_SIZE = 32
#: MTH({}) = SHA-256() — the root of the empty tree (RFC 9162 2.1.1).
EMPTY_ROOT = sha256(b"").digest()


def _fail(detail: str) -> MerkleError:
    return MerkleError("Merkle proof does not verify", detail=detail)


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash ``SHA-256(0x00 || data)`` (RFC 9162 2.1.1)."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash ``SHA-256(0x01 || left || right)`` (RFC 9162 2.1.1)."""
    return sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash of the leaf hashes (``EMPTY_ROOT`` for none)."""
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    # Pairing level by level, carrying an odd last node up unchanged, builds exactly
    # the tree of the RFC's recursive split at the largest power of two (2.1.1).
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise _fail(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root an inclusion proof leads to (RFC 9162 2.1.3.2 steps 1-5)."""
    _check_hash(leaf_hash, "leaf hash")
    # Step 1: the index must lie inside the tree.
    if not 0 <= index < size:
        raise _fail(f"leaf index {index} not below tree size {size}")
    # Step 2-3: fn = leaf_index, sn = tree_size - 1, r = hash.
    fn, sn, r = index, size - 1, leaf_hash
    # Step 4: walk the path bottom up.
    for i, p in enumerate(proof):
        _check_hash(p, f"proof node {i}")
        if sn == 0:  # 4a: more nodes than the tree has levels
            raise _fail(f"inclusion proof has {len(proof)} nodes, too many for size {size}")
        if fn & 1 or fn == sn:  # 4b: p is a left sibling
            r = node_hash(p, r)
            # 4b.ii: skip the levels where this subtree is the rightmost, unpaired node.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:  # 4c: p is a right sibling
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5 (first half): every level must have been consumed.
    if sn != 0:
        raise _fail(f"inclusion proof has {len(proof)} nodes, too few for size {size}")
    return r


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree ``(size, root)`` (2.1.3.2)."""
    _check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash=leaf_hash, index=index, size=size, proof=proof)
    if computed != root:  # Step 5 (second half).
        raise _fail(f"inclusion proof for leaf {index} of {size} leads to another root")


def verify_consistency(
    *,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Verify that tree ``(old_size, old_root)`` is a prefix of ``(new_size, new_root)``."""
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof node {i}")
    if not 0 <= old_size <= new_size:
        raise _fail(f"sizes out of order: old {old_size}, new {new_size}")
    # Trivial cases outside 2.1.4.2 (which assumes 0 < first < second): the proofs are
    # empty, so anything else is forged; an empty tree is a prefix of every tree.
    if old_size == 0 or old_size == new_size:
        if proof:
            raise _fail(f"consistency proof {old_size}->{new_size} must be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise _fail("old root of an empty tree is not the empty hash")
        if old_size == new_size and old_root != new_root:
            raise _fail(f"different roots for the same size {old_size}")
        return
    # Step 1: an empty path cannot prove anything for 0 < first < second.
    if not proof:
        raise _fail(f"consistency proof {old_size}->{new_size} is empty")
    path = list(proof)
    # Step 2: if first is an exact power of two, the old root is itself a node of the
    # new tree and the proof omits it; prepend it.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3-4: fn = first - 1, sn = second - 1, then drop the levels where the old
    # tree's last node is a right child.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: both running hashes start from the first path value.
    fr = sr = path[0]
    # Step 6: walk the rest of the path bottom up.
    for c in path[1:]:
        if sn == 0:  # 6a: more nodes than the new tree has levels
            raise _fail(f"consistency proof {old_size}->{new_size} has too many nodes")
        if fn & 1 or fn == sn:  # 6b: c is a left sibling in both trees
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:  # 6c: c lies only in the new tree, to the right
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7: both roots reproduced and every level consumed.
    if sn != 0:
        raise _fail(f"consistency proof {old_size}->{new_size} has too few nodes")
    if fr != old_root:
        raise _fail(f"consistency proof {old_size}->{new_size} does not lead to the old root")
    if sr != new_root:
        raise _fail(f"consistency proof {old_size}->{new_size} does not lead to the new root")
