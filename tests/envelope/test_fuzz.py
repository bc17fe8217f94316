"""Arbitrary bytes and single-byte mutations never open and never escape our error types."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.envelope import SealRequest, Verifier, seal, seal_batch
from broker.errors import Error
from broker.trust.testing import UnsafeTestFederation
from tests.envelope.conftest import NOW


@pytest.fixture(scope="module")
def samples(fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]) -> list[bytes]:
    out = []
    for suite in ("classic", "pq-hybrid"):
        out.append(
            seal(
                payload,
                kind="DOSSIER",
                codes=codes,
                sender=fed.identity("ES-PN"),
                recipients=["DE-BKA", "PT-PJ"],
                trust=fed.trust,
                sequence=1,
                suite=suite,
                now=NOW,
            )
        )
        reqs = [
            SealRequest(
                payload=payload, kind="DOSSIER", codes=codes, recipients=["DE-BKA"], sequence=i
            )
            for i in range(1, 4)
        ]
        out.append(
            seal_batch(reqs, sender=fed.identity("ES-PN"), trust=fed.trust, suite=suite, now=NOW)[1]
        )
    return out


def _must_fail(verifier: Verifier, fed: UnsafeTestFederation, data: bytes) -> None:
    try:
        opened = verifier.open(data, identity=fed.identity("DE-BKA"), now=NOW)
    except Error:
        return
    raise AssertionError(f"mutated envelope opened: {opened.header}")


@settings(
    max_examples=8_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(which=st.integers(0, 3), pos=st.integers(min_value=0), flip=st.integers(1, 255))
def test_single_byte_mutation_of_valid_envelope_never_opens(
    samples: list[bytes], fed: UnsafeTestFederation, which: int, pos: int, flip: int
) -> None:
    original = samples[which]
    data = bytearray(original)
    data[pos % len(data)] ^= flip
    # A fresh verifier per case: a cached batch root must not mask a mutation.
    _must_fail(Verifier(trust=fed.trust), fed, bytes(data))


@settings(
    max_examples=2_500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_open(fed: UnsafeTestFederation, data: bytes) -> None:
    _must_fail(Verifier(trust=fed.trust), fed, data)


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(which=st.integers(0, 3), cut=st.integers(min_value=0))
def test_truncated_envelope_never_opens(
    samples: list[bytes], fed: UnsafeTestFederation, which: int, cut: int
) -> None:
    data = samples[which]
    _must_fail(Verifier(trust=fed.trust), fed, data[: cut % len(data)])


def test_the_unmutated_samples_do_open(samples: list[bytes], fed: UnsafeTestFederation) -> None:
    verifier = Verifier(trust=fed.trust)
    for data in samples:
        assert verifier.open(data, identity=fed.identity("DE-BKA"), now=NOW).payload
