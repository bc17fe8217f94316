"""Saving and loading the index: round trip, tombstones, and corruption detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from broker.errors import IndexCorruptError
from broker.matching import Entries, HashIndex

from .conftest import random_words


@pytest.fixture
def saved(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, HashIndex, np.ndarray]:
    words = random_words(rng, 600)
    index = HashIndex()
    index.add(Entries(ids=np.arange(400, dtype=np.uint64), pdq=words[:400], sha256=words[:400]))
    index.add(
        Entries(
            ids=np.arange(400, 600, dtype=np.uint64), pdq=words[400:], md5=words[400:, :2].copy()
        )
    )
    index.withdraw(ids=[3, 450])
    index.save(tmp_path / "idx")
    return tmp_path / "idx", index, words


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip_keeps_matches_and_tombstones(
    saved: tuple[Path, HashIndex, np.ndarray], mmap: bool
) -> None:
    path, index, words = saved
    loaded = HashIndex.load(path, mmap=mmap)
    assert loaded.stats() == index.stats()
    assert loaded.query_batch(words).pairs() == index.query_batch(words).pairs()
    assert (
        loaded.lookup_exact(words[:10], kind="sha256").pairs()
        == index.lookup_exact(words[:10], kind="sha256").pairs()
    )
    assert 3 not in loaded.query_batch(words).id.tolist()
    loaded.withdraw(ids=[4])  # tombstones stay writable after a memory-mapped load
    assert 4 not in loaded.query_batch(words).id.tolist()


def test_saving_again_replaces_the_snapshot(saved: tuple[Path, HashIndex, np.ndarray]) -> None:
    path, index, words = saved
    index.withdraw(ids=[5])
    index.save(path)
    assert len([p for p in path.iterdir() if p.name.startswith("snap-")]) == 1
    assert 5 not in HashIndex.load(path).query_batch(words).id.tolist()


def _snapshot(path: Path) -> Path:
    return path / (path / "CURRENT").read_text().split("\n")[0]


def test_altered_array_file_is_rejected(saved: tuple[Path, HashIndex, np.ndarray]) -> None:
    path = saved[0]
    file = _snapshot(path) / "pdq-0-hi.npy"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0x01  # one bit of one stored hash: a wrong answer if it were loaded
    file.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError):
        HashIndex.load(path)


def test_truncated_array_file_is_rejected(saved: tuple[Path, HashIndex, np.ndarray]) -> None:
    path = saved[0]
    file = _snapshot(path) / "pdq-0-order-3.npy"
    file.write_bytes(file.read_bytes()[:-8])
    with pytest.raises(IndexCorruptError):
        HashIndex.load(path)


def test_altered_manifest_is_rejected(saved: tuple[Path, HashIndex, np.ndarray]) -> None:
    path = saved[0]
    manifest = _snapshot(path) / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"rows": 400', '"rows": 401'))
    with pytest.raises(IndexCorruptError):
        HashIndex.load(path)


def test_missing_index_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(IndexCorruptError):
        HashIndex.load(tmp_path / "nothing-here")
