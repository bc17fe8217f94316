"""RFC 9162 Merkle trees against the published RFC 6962 reference vectors, and forgeries.

The vectors (tests/vectors/merkle/rfc6962.json) come from Google's
certificate-transparency C++ tests and transparency-dev/merkle; the file records
the exact sources. The forgery probes mirror the ones those projects run against
their own verifiers, so an attack they know about is an attack we test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import merkle
from broker.errors import Error
from broker.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleError,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors" / "merkle" / "rfc6962.json"
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


@dataclass(frozen=True)
class Vectors:
    leaves: list[bytes]  # leaf hashes of the eight published inputs
    empty_root: bytes
    roots: list[bytes]  # roots[n] is the root at size n, roots[0] the empty tree
    inclusion: list[tuple[int, int, list[bytes]]]
    consistency: list[tuple[int, int, list[bytes]]]


def _hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


@pytest.fixture(scope="module")
def vec() -> Vectors:
    raw: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert raw["sources"], "vectors must say where they come from"
    empty = bytes.fromhex(raw["empty_root"])
    return Vectors(
        leaves=[leaf_hash(d) for d in _hexes(raw["leaves"])],
        empty_root=empty,
        roots=[empty, *_hexes(raw["roots"])],
        inclusion=[(c["index"], c["size"], _hexes(c["path"])) for c in raw["inclusion"]],
        consistency=[
            (c["old_size"], c["new_size"], _hexes(c["proof"])) for c in raw["consistency"]
        ],
    )


# --- Reference: the RFC 9162 2.1 recursive definitions, literally, for cross-checks ---


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def _flip(h: bytes, bit: int = 3) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# --- Known answers ---------------------------------------------------------------------


def test_empty_tree_root_is_the_hash_of_the_empty_string(vec: Vectors) -> None:
    assert EMPTY_ROOT == vec.empty_root == root([]) == CompactRange().root() == MerkleTree().root()


def test_roots_for_every_size_match_the_published_roots(vec: Vectors) -> None:
    frontier, full = CompactRange(), MerkleTree()
    for n in range(1, 9):
        frontier.append(vec.leaves[n - 1])
        full.append(vec.leaves[n - 1])
        assert root(vec.leaves[:n]) == vec.roots[n], n
        assert frontier.root() == vec.roots[n], n
        assert full.root() == vec.roots[n], n
    # The full tree answers every earlier size too.
    assert [full.root(n) for n in range(9)] == vec.roots


def test_published_inclusion_proofs_are_generated_byte_exact_and_verify(vec: Vectors) -> None:
    full = MerkleTree.from_leaf_hashes(vec.leaves)
    for index, size, path in vec.inclusion:
        assert inclusion_proof(vec.leaves[:size], index) == path
        assert full.inclusion_proof(index, size) == path
        verify_inclusion(
            leaf_hash=vec.leaves[index], index=index, size=size, proof=path, root=vec.roots[size]
        )
        assert (
            root_from_inclusion_proof(
                leaf_hash=vec.leaves[index], index=index, size=size, proof=path
            )
            == vec.roots[size]
        )


def test_published_consistency_proofs_are_generated_byte_exact_and_verify(vec: Vectors) -> None:
    full = MerkleTree.from_leaf_hashes(vec.leaves)
    for old, new, proof in vec.consistency:
        assert consistency_proof(vec.leaves[:new], old) == proof
        assert full.consistency_proof(old, new) == proof
        verify_consistency(
            old_size=old,
            new_size=new,
            old_root=vec.roots[old],
            new_root=vec.roots[new],
            proof=proof,
        )


def test_every_inclusion_proof_up_to_eight_leaves_verifies(vec: Vectors) -> None:
    full = MerkleTree.from_leaf_hashes(vec.leaves)
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(vec.leaves[:size], index)
            assert proof == full.inclusion_proof(index, size) == ref_path(index, vec.leaves[:size])
            verify_inclusion(
                leaf_hash=vec.leaves[index],
                index=index,
                size=size,
                proof=proof,
                root=vec.roots[size],
            )


def test_every_consistency_proof_up_to_eight_leaves_verifies(vec: Vectors) -> None:
    full = MerkleTree.from_leaf_hashes(vec.leaves)
    for new in range(0, 9):
        for old in range(0, new + 1):
            proof = full.consistency_proof(old, new)
            if 0 < old < new:
                assert proof == ref_subproof(old, vec.leaves[:new], True)
            else:
                assert proof == []
            assert proof == consistency_proof(vec.leaves[:new], old)
            verify_consistency(
                old_size=old,
                new_size=new,
                old_root=vec.roots[old],
                new_root=vec.roots[new],
                proof=proof,
            )


def test_generation_matches_the_rfc_recursion_for_every_size_up_to_48() -> None:
    # As in CT's tests: leaves are the single bytes 0, 1, 2, ...
    leaves = [leaf_hash(bytes([i])) for i in range(48)]
    full, frontier = MerkleTree(), CompactRange()
    for h in leaves:
        full.append(h)
        frontier.append(h)
        n = full.size
        assert full.root() == frontier.root() == root(leaves[:n]) == ref_mth(leaves[:n])
    for n in range(1, 49):
        for i in range(n):
            assert full.inclusion_proof(i, n) == ref_path(i, leaves[:n])
        for m in range(1, n):
            assert full.consistency_proof(m, n) == ref_subproof(m, leaves[:n], True)


# --- Forged inclusion proofs -----------------------------------------------------------

Probe = tuple[int, int, bytes, list[bytes], bytes]  # index, size, leaf, proof, root


def _inclusion_forgeries(
    index: int, size: int, leaf: bytes, proof: list[bytes], r: bytes
) -> dict[str, Probe]:
    probes: dict[str, Probe] = {
        "index-1": (index - 1, size, leaf, proof, r),
        "index+1": (index + 1, size, leaf, proof, r),
        "index^2": (index ^ 2, size, leaf, proof, r),
        "index=size": (size, size, leaf, proof, r),
        "index>size": (size + 5, size, leaf, proof, r),
        "size*2": (index, size * 2, leaf, proof, r),
        "size/2": (index, size // 2, leaf, proof, r),
        "wrong-leaf": (index, size, leaf_hash(b"WrongLeaf"), proof, r),
        "short-leaf": (index, size, leaf[:31], proof, r),
        "empty-root": (index, size, leaf, proof, EMPTY_ROOT),
        "random-root": (index, size, leaf, proof, SOME_HASH),
        "trailing-garbage": (index, size, leaf, [*proof, b""], r),
        "trailing-root": (index, size, leaf, [*proof, r], r),
        "preceding-garbage": (index, size, leaf, [b"", *proof], r),
        "preceding-root": (index, size, leaf, [r, *proof], r),
    }
    for i in range(len(proof)):
        probes[f"flipped-bit-in-node-{i}"] = (
            index,
            size,
            leaf,
            [*proof[:i], _flip(proof[i]), *proof[i + 1 :]],
            r,
        )
        probes[f"node-{i}-replaced-by-empty-root"] = (
            index,
            size,
            leaf,
            [*proof[:i], EMPTY_ROOT, *proof[i + 1 :]],
            r,
        )
    if proof:
        probes["truncated"] = (index, size, leaf, proof[:-1], r)
        probes["extended-with-last-node"] = (index, size, leaf, [*proof, proof[-1]], r)
    if len(proof) > 1:
        probes["inserted-node"] = (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], r)
    return probes


def test_forged_inclusion_proofs_are_rejected(vec: Vectors) -> None:
    accepted = []
    for index, size, path in vec.inclusion:
        probes = _inclusion_forgeries(index, size, vec.leaves[index], path, vec.roots[size])
        for name, (i, n, leaf, proof, r) in probes.items():
            try:
                verify_inclusion(leaf_hash=leaf, index=i, size=n, proof=proof, root=r)
            except MerkleError:
                continue
            accepted.append(f"{name} ({index}/{size})")
    assert accepted == []


def test_padded_and_truncated_proofs_fail_on_length_before_any_root_comparison(
    vec: Vectors,
) -> None:
    # RFC 9162 2.1.3.2 step 4a / 2.1.4.2 step 6a stop at the first surplus node, and
    # step 5 / 7 insist every level is consumed: the length is checked, not just the root.
    index, size, path = vec.inclusion[1]
    leaf, r = vec.leaves[index], vec.roots[size]
    for proof, word in (([*path, path[-1]], "too many"), (path[:-1], "too few")):
        with pytest.raises(MerkleError) as info:
            verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof, root=r)
        assert word in (info.value.detail or "")
    old, new, cproof = vec.consistency[2]
    r1, r2 = vec.roots[old], vec.roots[new]
    for proof, word in (([*cproof, cproof[-1]], "too many"), (cproof[:-1], "too few")):
        with pytest.raises(MerkleError) as info:
            verify_consistency(old_size=old, new_size=new, old_root=r1, new_root=r2, proof=proof)
        assert word in (info.value.detail or "")


def test_leaf_index_equal_to_size_is_rejected_even_with_a_proof_that_hashes_right() -> None:
    # A 2-leaf tree: the proof for index 1 is [leaf 0]; claiming index 2 of size 2
    # walks the same hashes but must fail the index < size check first.
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    with pytest.raises(MerkleError) as info:
        verify_inclusion(leaf_hash=b, index=2, size=2, proof=[a], root=node_hash(a, b))
    assert "index" in (info.value.detail or "")


def test_inclusion_in_an_empty_or_negative_tree_is_rejected() -> None:
    for index, size in [(0, 0), (1, 0), (2, 1), (-1, 1), (-1, 0)]:
        with pytest.raises(MerkleError):
            verify_inclusion(leaf_hash=SOME_HASH, index=index, size=size, proof=[], root=SOME_HASH)


def test_single_leaf_tree_needs_an_empty_proof_and_the_leaf_as_root() -> None:
    h = leaf_hash(b"data")
    verify_inclusion(leaf_hash=h, index=0, size=1, proof=[], root=h)
    for leaf, proof, r in [(h, [h], h), (h, [], EMPTY_ROOT), (b"", [], b""), (h[:16], [], h)]:
        with pytest.raises(MerkleError):
            verify_inclusion(leaf_hash=leaf, index=0, size=1, proof=proof, root=r)


# --- Forged consistency proofs ---------------------------------------------------------

CProbe = tuple[int, int, bytes, bytes, list[bytes]]  # old, new, old_root, new_root, proof


def _consistency_forgeries(
    old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes]
) -> dict[str, CProbe]:
    probes: dict[str, CProbe] = {
        "old-1": (old - 1, new, r1, r2, proof),
        "old+1": (old + 1, new, r1, r2, proof),
        "old^2": (old ^ 2, new, r1, r2, proof),
        "new*2": (old, new * 2, r1, r2, proof),
        "new/2": (old, new // 2, r1, r2, proof),
        "old>new (rollback)": (new, old, r2, r1, proof),
        "wrong-old-root": (old, new, SOME_HASH, r2, proof),
        "wrong-new-root": (old, new, r1, SOME_HASH, proof),
        "short-old-root": (old, new, r1[:9], r2, proof),
        "swapped-roots": (old, new, r2, r1, proof),
        "empty-proof": (old, new, r1, r2, []),
        "trailing-garbage": (old, new, r1, r2, [*proof, b""]),
        "trailing-old-root": (old, new, r1, r2, [*proof, r1]),
        "trailing-new-root": (old, new, r1, r2, [*proof, r2]),
        "preceding-garbage": (old, new, r1, r2, [b"", *proof]),
        "preceding-old-root": (old, new, r1, r2, [r1, *proof]),
        "preceding-new-root": (old, new, r1, r2, [r2, *proof]),
        "preceding-first-node": (old, new, r1, r2, [proof[0], *proof]),
        "truncated": (old, new, r1, r2, proof[:-1]),
        "extended-with-last-node": (old, new, r1, r2, [*proof, proof[-1]]),
    }
    for i in range(len(proof)):
        probes[f"flipped-bit-in-node-{i}"] = (
            old,
            new,
            r1,
            r2,
            [*proof[:i], _flip(proof[i], 4), *proof[i + 1 :]],
        )
    return probes


def test_forged_consistency_proofs_are_rejected(vec: Vectors) -> None:
    accepted = []
    for old, new, proof in vec.consistency:
        if not proof:  # trivial proofs have nothing to corrupt (as in the sources)
            continue
        probes = _consistency_forgeries(old, new, vec.roots[old], vec.roots[new], proof)
        for name, (m, n, r1, r2, p) in probes.items():
            try:
                verify_consistency(old_size=m, new_size=n, old_root=r1, new_root=r2, proof=p)
            except MerkleError:
                continue
            accepted.append(f"{name} ({old}->{new})")
    assert accepted == []


def test_trivial_consistency_cases(vec: Vectors) -> None:
    # Always consistent: empty with anything, a tree with itself; with empty proofs only.
    verify_consistency(old_size=0, new_size=0, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT, proof=[])
    verify_consistency(old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=vec.roots[5], proof=[])
    verify_consistency(
        old_size=3, new_size=3, old_root=vec.roots[3], new_root=vec.roots[3], proof=[]
    )
    bad: list[CProbe] = [
        (3, 3, vec.roots[3], vec.roots[4], []),  # same size, two roots: a split view
        (3, 3, vec.roots[3], vec.roots[3], [EMPTY_ROOT]),  # equal, but a proof was padded in
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (0, 1, EMPTY_ROOT, vec.roots[1], [EMPTY_ROOT]),
        (1, 0, vec.roots[1], EMPTY_ROOT, []),  # time travel
        (2, 1, vec.roots[2], vec.roots[1], []),
        (1, 2, vec.roots[1], vec.roots[2], []),  # non-trivial sizes, empty proof
        (-1, 2, vec.roots[1], vec.roots[2], []),
    ]
    for old, new, r1, r2, proof in bad:
        with pytest.raises(MerkleError):
            verify_consistency(old_size=old, new_size=new, old_root=r1, new_root=r2, proof=proof)


def test_empty_old_tree_with_a_non_empty_root_is_rejected(vec: Vectors) -> None:
    # Stricter than the CT and transparency-dev verifiers, which ignore root1 at size 0:
    # a "size 0" checkpoint whose root is not SHA-256("") is malformed, not consistent.
    with pytest.raises(MerkleError):
        verify_consistency(
            old_size=0, new_size=5, old_root=SOME_HASH, new_root=vec.roots[5], proof=[]
        )


def test_swapped_leaves_change_the_root_and_break_every_proof(vec: Vectors) -> None:
    swapped = [vec.leaves[1], vec.leaves[0], *vec.leaves[2:]]
    assert root(swapped) != vec.roots[8]
    with pytest.raises(MerkleError):  # leaf 0's honest proof against the reordered log's root
        verify_inclusion(
            leaf_hash=vec.leaves[0],
            index=0,
            size=8,
            proof=inclusion_proof(vec.leaves, 0),
            root=root(swapped),
        )
    with pytest.raises(MerkleError):  # a reordered log cannot extend the old checkpoint
        verify_consistency(
            old_size=4,
            new_size=8,
            old_root=vec.roots[4],
            new_root=root(swapped),
            proof=consistency_proof(swapped, 4),
        )


def test_rewritten_history_cannot_be_proven_consistent(vec: Vectors) -> None:
    rewritten = [*vec.leaves[:2], leaf_hash(b"slipped in"), *vec.leaves[3:]]
    with pytest.raises(MerkleError):
        verify_consistency(
            old_size=4,
            new_size=8,
            old_root=vec.roots[4],
            new_root=root(rewritten),
            proof=consistency_proof(rewritten, 4),
        )


# --- Incremental trees and argument checks ---------------------------------------------


def test_trees_refuse_leaf_hashes_of_the_wrong_size() -> None:
    for bad in (b"", b"\x00" * 31, b"\x00" * 33):
        for tree in (CompactRange(), MerkleTree()):
            with pytest.raises(MerkleError):
                tree.append(bad)


def test_proofs_outside_the_tree_are_refused(vec: Vectors) -> None:
    full = MerkleTree.from_leaf_hashes(vec.leaves[:5])
    calls: list[Callable[[], object]] = [
        lambda: full.root(6),
        lambda: full.root(-1),
        lambda: full.inclusion_proof(5),
        lambda: full.inclusion_proof(2, 2),
        lambda: full.inclusion_proof(-1),
        lambda: full.consistency_proof(6),
        lambda: full.consistency_proof(3, 2),
        lambda: full.consistency_proof(1, 9),
        lambda: inclusion_proof([], 0),
        lambda: consistency_proof(vec.leaves[:2], 3),
    ]
    for call in calls:
        with pytest.raises(MerkleError):
            call()


def test_merkle_error_is_a_broker_error_that_tells_a_peer_nothing() -> None:
    with pytest.raises(MerkleError) as info:
        verify_inclusion(leaf_hash=SOME_HASH, index=3, size=2, proof=[], root=SOME_HASH)
    err = info.value
    assert isinstance(err, Error)
    assert err.reason == "bad-proof"
    assert not err.retriable
    assert str(err) == "Merkle proof does not verify"
    assert "3" in err.diagnostics()  # the precise cause is for our own logs


def test_package_exports_everything_public_from_its_modules() -> None:
    from broker.merkle import tree, verify

    assert set(merkle.__all__) == set(verify.__all__) | set(tree.__all__) | {"MerkleError"}
    for name in merkle.__all__:
        assert getattr(merkle, name) is not None


# --- Properties ------------------------------------------------------------------------

leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(data=leaf_lists, pick=st.integers(min_value=0), bit=st.integers(0, 255))
def test_generated_inclusion_proofs_verify_and_any_single_bit_flip_fails(
    data: list[bytes], pick: int, bit: int
) -> None:
    hashes = [leaf_hash(d) for d in data]
    size = len(hashes)
    index = pick % size
    proof = inclusion_proof(hashes, index)
    r = root(hashes)
    verify_inclusion(leaf_hash=hashes[index], index=index, size=size, proof=proof, root=r)

    def flipped(h: bytes) -> bytes:
        b = bytearray(h)
        b[bit // 8] ^= 1 << (bit % 8)
        return bytes(b)

    # One bit anywhere in what the verifier is given: each proof node, the leaf, the root.
    for i in range(len(proof)):
        bad = [*proof[:i], flipped(proof[i]), *proof[i + 1 :]]
        with pytest.raises(MerkleError):
            verify_inclusion(leaf_hash=hashes[index], index=index, size=size, proof=bad, root=r)
    with pytest.raises(MerkleError):
        verify_inclusion(
            leaf_hash=flipped(hashes[index]), index=index, size=size, proof=proof, root=r
        )
    with pytest.raises(MerkleError):
        verify_inclusion(
            leaf_hash=hashes[index], index=index, size=size, proof=proof, root=flipped(r)
        )


@settings(max_examples=150, deadline=None)
@given(data=leaf_lists, pick=st.integers(min_value=0), bit=st.integers(0, 255))
def test_generated_consistency_proofs_verify_and_any_single_bit_flip_fails(
    data: list[bytes], pick: int, bit: int
) -> None:
    hashes = [leaf_hash(d) for d in data]
    new = len(hashes)
    old = pick % (new + 1)
    full = MerkleTree.from_leaf_hashes(hashes)
    proof, r1, r2 = full.consistency_proof(old), full.root(old), full.root()
    verify_consistency(old_size=old, new_size=new, old_root=r1, new_root=r2, proof=proof)

    def flipped(h: bytes) -> bytes:
        b = bytearray(h)
        b[bit // 8] ^= 1 << (bit % 8)
        return bytes(b)

    for i in range(len(proof)):
        bad = [*proof[:i], flipped(proof[i]), *proof[i + 1 :]]
        with pytest.raises(MerkleError):
            verify_consistency(old_size=old, new_size=new, old_root=r1, new_root=r2, proof=bad)
    with pytest.raises(MerkleError):
        verify_consistency(
            old_size=old, new_size=new, old_root=flipped(r1), new_root=r2, proof=proof
        )
    if old > 0:  # an empty old tree is a prefix of every tree, whatever the new root
        with pytest.raises(MerkleError):
            verify_consistency(
                old_size=old, new_size=new, old_root=r1, new_root=flipped(r2), proof=proof
            )


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.binary(max_size=4), max_size=100))
def test_incremental_roots_equal_the_tree_hash_at_every_size(data: list[bytes]) -> None:
    hashes = [leaf_hash(d) for d in data]
    frontier, full = CompactRange(), MerkleTree()
    assert frontier.root() == full.root() == EMPTY_ROOT
    for n, h in enumerate(hashes, 1):
        frontier.append(h)
        full.append(h)
        assert frontier.size == full.size == n
        assert frontier.root() == full.root() == root(hashes[:n])
    assert [full.root(n) for n in range(len(hashes) + 1)] == [
        root(hashes[:n]) for n in range(len(hashes) + 1)
    ]
