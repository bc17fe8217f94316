"""Exact recall of the PDQ index, withdrawal, incremental adds and exact digests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.devtools.bench.hub_index import flip_exactly
from broker.errors import HashFormatError, MatchingError
from broker.matching import Entries, HashIndex, Layout
from broker.matching.mih import CHUNK, MihSegment
from broker.matching.pdq import distance, to_hex

from .conftest import at_distance, random_words

PLANTED = range(32)  # every distance 0..31 must be found
DECOYS = range(32, 41)  # every distance 32..40 must never be returned


def _planted_index(seed: int, batches: int) -> tuple[HashIndex, np.ndarray, np.ndarray]:
    """Index planted neighbours and decoys of one query among random hashes."""
    rng = np.random.default_rng(seed)
    query = random_words(rng, 1)
    near = np.concatenate([at_distance(rng, query, d) for d in [*PLANTED, *DECOYS]])
    words = np.concatenate([near, random_words(rng, 3000)])
    ids = np.arange(words.shape[0], dtype=np.uint64)  # id d is the neighbour at distance d
    order = rng.permutation(words.shape[0])
    index = HashIndex()
    for part in np.array_split(order, batches):
        index.add(Entries(ids=ids[part], pdq=words[part]))
    return index, query, words


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batches=st.integers(1, 5))
def test_every_planted_neighbour_is_found_and_no_decoy(seed: int, batches: int) -> None:
    index, query, words = _planted_index(seed, batches)
    got = {ref: d for _, ref, d in index.query_batch(query, threshold=31).pairs()}
    assert all(got.get(d) == d for d in PLANTED)
    assert not any(d in got for d in DECOYS)
    truth = np.nonzero(distance(words, query) <= 31)[0]
    assert set(got) == set(truth.tolist())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), threshold=st.integers(0, 40))
def test_any_threshold_returns_exactly_the_brute_force_answer(seed: int, threshold: int) -> None:
    rng = np.random.default_rng(seed)
    base = random_words(rng, 8)
    words = np.concatenate(
        [base]
        + [
            at_distance(rng, base[i : i + 1], int(d))
            for i in range(8)
            for d in rng.integers(0, 48, 6)
        ]
    )
    queries = np.concatenate(
        [at_distance(rng, base[i : i + 1], int(rng.integers(0, 8))) for i in range(8)]
    )
    index = HashIndex()
    index.add(Entries(ids=np.arange(words.shape[0], dtype=np.uint64), pdq=words))
    got = set(index.query_batch(queries, threshold=threshold).pairs())
    d = distance(words[None, :, :], queries[:, None, :])
    truth = {
        (int(q), int(r), int(d[q, r])) for q, r in zip(*np.nonzero(d <= threshold), strict=True)
    }
    assert got == truth


@pytest.mark.parametrize(
    "widths",
    [
        (20,) * 12 + (16,),  # unequal slots, radius 2 on six of them
        (20,) * 12,  # 16 bits in no slot: still exact, they only add distance
        (24, 24, 24) + (23,) * 8,  # the ten-million layout
    ],
)
def test_wide_layouts_are_exact(rng: np.random.Generator, widths: tuple[int, ...]) -> None:
    query = random_words(rng, 1)
    near = np.concatenate([at_distance(rng, query, d) for d in [*PLANTED, *DECOYS]])
    words = np.concatenate([near, random_words(rng, 500)])
    seg = MihSegment.build(
        ids=np.arange(words.shape[0], dtype=np.uint64), words=words, layout=Layout(widths=widths)
    )
    _, rows, d = seg.search(query, threshold=31)
    assert sorted(rows.tolist()) == list(PLANTED)
    assert d.tolist() == distance(words[rows], query).tolist()


def test_a_bucket_of_more_than_255_rows_is_read_in_full(rng: np.random.Generator) -> None:
    same = np.repeat(random_words(rng, 1), 300, axis=0)
    index = HashIndex()
    index.add(Entries(ids=np.arange(300, dtype=np.uint64), pdq=same))
    assert len(index.query_batch(same[:1])) == 300


def test_withdrawn_hash_stops_matching_at_once(rng: np.random.Generator) -> None:
    words = random_words(rng, 100)
    index = HashIndex()
    index.add(Entries(ids=np.arange(100, dtype=np.uint64), pdq=words))
    near = at_distance(rng, words[5:6], 3)
    assert index.query_batch(near).id.tolist() == [5]
    assert index.withdraw(ids=[5]) == 1
    assert len(index.query_batch(near)) == 0
    assert index.withdraw(pdq=to_hex(words[6:7])) == 1
    assert len(index.query_batch(words[6:7])) == 0
    assert index.withdraw(ids=[5]) == 0  # already withdrawn
    index.add(Entries(ids=np.array([5], dtype=np.uint64), pdq=words[5:6]))  # listed again
    assert index.query_batch(near).id.tolist() == [5]


def test_incremental_adds_keep_few_segments_and_compaction_drops_tombstones(
    rng: np.random.Generator,
) -> None:
    words = random_words(rng, 4000)
    index = HashIndex()
    for first in range(0, 4000, 100):
        index.add(
            Entries(
                ids=np.arange(first, first + 100, dtype=np.uint64), pdq=words[first : first + 100]
            )
        )
    assert len(index.stats()["pdq"]["segments"]) <= 6  # logarithmic, not one per batch
    assert len(index.query_batch(words)) == 4000
    index.withdraw(ids=range(0, 4000, 2))
    index.compact()
    assert index.stats()["pdq"] == {"rows": 2000, "live": 2000, "segments": [2000]}
    assert sorted(index.query_batch(words).id.tolist()) == list(range(1, 4000, 2))


def test_an_id_with_several_hashes_is_reported_once_at_its_best_distance(
    rng: np.random.Generator,
) -> None:
    base = random_words(rng, 1)
    frames = np.concatenate([at_distance(rng, base, 9), at_distance(rng, base, 2)])
    index = HashIndex()
    index.add(Entries(ids=np.array([7, 7], dtype=np.uint64), pdq=frames))
    assert index.query_batch(base).pairs() == [(0, 7, 2)]


def test_exact_digests_match_only_equal_values() -> None:
    sha = ["00" * 31 + f"{i:02x}" for i in range(50)]
    md5 = ["11" * 15 + f"{i:02x}" for i in range(50)]
    index = HashIndex()
    index.add(Entries.parse(range(25), sha256=sha[:25], md5=md5[:25]))
    index.add(Entries.parse(range(25, 50), sha256=sha[25:]))
    assert index.lookup_exact([sha[3], sha[40], "ff" * 32], kind="sha256").pairs() == [
        (0, 3, 0),
        (1, 40, 0),
    ]
    assert index.lookup_exact([md5[3], md5[40]], kind="md5").pairs() == [(0, 3, 0)]
    assert index.withdraw(sha256=[sha[3]]) == 1
    assert len(index.lookup_exact([sha[3]], kind="sha256")) == 0
    assert index.lookup_exact([md5[3]], kind="md5").pairs() == [(0, 3, 0)]  # other kinds stay


def test_bad_input_is_a_typed_error() -> None:
    index = HashIndex()
    with pytest.raises(HashFormatError):
        index.query_batch(["not hex"])
    with pytest.raises(HashFormatError):
        Entries.parse([-1], pdq=["00" * 32])
    with pytest.raises(MatchingError):
        index.add(Entries.parse([1], pdq=["00" * 32]))
        index.query_batch(["00" * 32], threshold=64)


def test_a_batch_searched_by_several_threads_gives_the_single_thread_answer(
    rng: np.random.Generator,
) -> None:
    refs = random_words(rng, 20_000)
    ids = np.arange(refs.shape[0], dtype=np.uint64)
    index = HashIndex(workers=3)
    for part in np.array_split(np.arange(refs.shape[0]), 3):  # several segments
        index.add(Entries(ids=ids[part], pdq=refs[part]))
    # More than two chunks of queries, each planted at 0..40 bits from a reference.
    source = rng.integers(0, refs.shape[0], 2 * CHUNK + 100)
    bits = np.arange(source.size) % 41
    queries = flip_exactly(rng, refs[source], bits)
    threaded = index.query_batch(queries, threshold=31)
    assert threaded.pairs() == index.query_batch(queries, threshold=31, workers=1).pairs()
    found = set(zip(threaded.query.tolist(), threaded.id.tolist(), strict=True))
    assert all(((i, int(s)) in found) == (bits[i] <= 31) for i, s in enumerate(source))
    with pytest.raises(MatchingError, match="workers"):
        HashIndex(workers=0)
