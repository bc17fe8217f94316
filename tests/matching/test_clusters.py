"""Clusters are connected components: independent of insertion order, with opaque ids."""

from __future__ import annotations

import numpy as np

from broker.matching import Entries, HashIndex, link_clusters, new_cluster_key
from broker.matching.pdq import distance

from .conftest import at_distance, random_words


def _chain_and_strangers(rng: np.random.Generator) -> np.ndarray:
    """A chain a-b-c with a-b, b-c within 31 but a-c beyond it, plus strangers."""
    a = random_words(rng, 1)
    b = at_distance(rng, a, 20)
    while True:
        c = at_distance(rng, b, 20)
        if int(distance(a, c)[0]) > 31:
            break
    twins = random_words(rng, 1)
    return np.concatenate([a, b, c, twins, at_distance(rng, twins, 5), random_words(rng, 40)])


def _clusters(
    words: np.ndarray, order: np.ndarray, key: bytes, batches: int
) -> dict[str, frozenset[int]]:
    index = HashIndex()
    for part in np.array_split(order, batches):
        index.add(Entries(ids=part.astype(np.uint64), pdq=words[part]))
    return link_clusters(index, key=key).groups()


def test_insertion_order_does_not_change_clusters_or_ids(rng: np.random.Generator) -> None:
    words = _chain_and_strangers(rng)
    key = new_cluster_key()
    first = _clusters(words, np.arange(words.shape[0]), key, batches=1)
    for _ in range(5):
        assert (
            _clusters(words, rng.permutation(words.shape[0]), key, batches=int(rng.integers(1, 6)))
            == first
        )
    members = sorted(first.values(), key=len, reverse=True)
    assert members[0] == frozenset({0, 1, 2})  # joined through b though a and c are far apart
    assert members[1] == frozenset({3, 4})
    assert len(first) == 2 + 40


def test_cluster_ids_are_keyed_and_opaque(rng: np.random.Generator) -> None:
    words = _chain_and_strangers(rng)
    order = np.arange(words.shape[0])
    one, two = _clusters(words, order, b"a" * 32, 1), _clusters(words, order, b"b" * 32, 1)
    assert sorted(one.values(), key=sorted) == sorted(two.values(), key=sorted)
    assert not set(one) & set(two)  # another key, other names
    assert all(len(name) == 32 and int(name, 16) >= 0 for name in one)


def test_withdrawing_the_bridge_splits_the_cluster(rng: np.random.Generator) -> None:
    words = _chain_and_strangers(rng)
    index = HashIndex()
    index.add(Entries(ids=np.arange(words.shape[0], dtype=np.uint64), pdq=words))
    index.withdraw(ids=[1])
    groups = link_clusters(index, key=b"k" * 32).groups().values()
    assert frozenset({0}) in groups and frozenset({2}) in groups
