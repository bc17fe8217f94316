"""Helpers for the matching tests: random hashes and exact bit flips."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from broker.devtools.bench.hub_index import flip_exactly


def random_words(rng: np.random.Generator, n: int) -> NDArray[np.uint64]:
    """Return ``n`` uniform random 256-bit hashes."""
    return np.frombuffer(rng.bytes(32 * n), dtype=np.uint64).reshape(n, 4).copy()


def at_distance(rng: np.random.Generator, base: NDArray[np.uint64], d: int) -> NDArray[np.uint64]:
    """Return a copy of the single hash ``base`` (shape (1, 4)) with exactly ``d`` bits flipped."""
    return flip_exactly(rng, base, np.array([d], dtype=np.intp))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(2026)
