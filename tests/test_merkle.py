"""RFC 9162 Merkle trees against the published RFC 6962 reference vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.merkle import (
    MerkleError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors" / "merkle" / "rfc6962.json"


@pytest.fixture(scope="module")
def vec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


@pytest.fixture(scope="module")
def leaves(vec: dict[str, Any]) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(d)) for d in vec["leaves"]]


def test_roots_match_the_reference_vectors(vec: dict[str, Any], leaves: list[bytes]) -> None:
    assert root([]).hex() == vec["empty_root"]
    for n in range(1, 9):
        assert root(leaves[:n]).hex() == vec["roots"][n - 1]


def test_published_inclusion_proofs_are_generated_and_verify(
    vec: dict[str, Any], leaves: list[bytes]
) -> None:
    for case in vec["inclusion"]:
        i, n = case["index"], case["size"]
        path = [bytes.fromhex(p) for p in case["path"]]
        assert inclusion_proof(leaves[:n], i) == path
        verify_inclusion(
            leaf_hash=leaves[i],
            index=i,
            size=n,
            proof=path,
            root=bytes.fromhex(vec["roots"][n - 1]),
        )


def test_every_inclusion_and_consistency_proof_up_to_eight_verifies(leaves: list[bytes]) -> None:
    for n in range(1, 9):
        r = root(leaves[:n])
        for i in range(n):
            verify_inclusion(
                leaf_hash=leaves[i], index=i, size=n, proof=inclusion_proof(leaves[:n], i), root=r
            )
        for m in range(1, n + 1):
            verify_consistency(
                old_size=m,
                new_size=n,
                old_root=root(leaves[:m]),
                new_root=r,
                proof=consistency_proof(leaves[:n], m),
            )


@pytest.mark.parametrize(
    ("index", "size", "mutate"),
    [
        (5, 8, "wrong-index"),
        (8, 8, "index-beyond-size"),
        (5, 8, "truncated"),
        (5, 8, "extended"),
        (5, 8, "flipped"),
        (5, 8, "wrong-root"),
    ],
)
def test_forged_inclusion_proof_is_rejected(
    leaves: list[bytes], index: int, size: int, mutate: str
) -> None:
    good_index = min(index, size - 1)
    proof = inclusion_proof(leaves[:size], good_index)
    r = root(leaves[:size])
    leaf = leaves[good_index]
    if mutate == "wrong-index":
        index = 4
    elif mutate == "truncated":
        proof = proof[:-1]
    elif mutate == "extended":
        proof = [*proof, proof[-1]]
    elif mutate == "flipped":
        proof[1] = bytes([proof[1][0] ^ 1]) + proof[1][1:]
    elif mutate == "wrong-root":
        r = root(leaves[:7])
    with pytest.raises(MerkleError):
        verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof, root=r)


def test_swapped_leaves_change_the_root(leaves: list[bytes]) -> None:
    swapped = [leaves[1], leaves[0], *leaves[2:]]
    assert root(swapped) != root(leaves)


def test_forged_consistency_proof_is_rejected(leaves: list[bytes]) -> None:
    proof = consistency_proof(leaves, 3)
    good = {"old_size": 3, "new_size": 8, "old_root": root(leaves[:3]), "new_root": root(leaves)}
    verify_consistency(**good, proof=proof)
    for bad in (proof[:-1], [*proof, proof[0]], [proof[0][::-1], *proof[1:]]):
        with pytest.raises(MerkleError):
            verify_consistency(**good, proof=bad)
    with pytest.raises(MerkleError):  # a rewritten history: old root of other leaves
        verify_consistency(**{**good, "old_root": root(leaves[1:4])}, proof=proof)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    data=st.lists(st.binary(max_size=8), min_size=1, max_size=40),
    pick=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=255),
)
def test_generated_proofs_verify_and_any_bit_flip_fails(
    data: list[bytes], pick: int, bit: int
) -> None:
    hashes = [leaf_hash(d) for d in data]
    index = pick % len(hashes)
    proof = inclusion_proof(hashes, index)
    r = root(hashes)
    verify_inclusion(leaf_hash=hashes[index], index=index, size=len(hashes), proof=proof, root=r)
    if proof:
        node = pick % len(proof)
        tampered = bytearray(proof[node])
        tampered[bit // 8] ^= 1 << (bit % 8)
        proof[node] = bytes(tampered)
        with pytest.raises(MerkleError):
            verify_inclusion(
                leaf_hash=hashes[index], index=index, size=len(hashes), proof=proof, root=r
            )
