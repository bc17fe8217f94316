"""Hostile bytes never open and never escape our error types (issue 3, item 6).

Every byte of an envelope is authenticated (header as AEAD data and signed, wraps,
nonce, ciphertext and commitment under the signature, the signature verified, and only
canonical Avro accepted), so *no* change to a valid envelope may open. Hypothesis runs
11,000 derandomized cases; on top, every single byte position of every sample is flipped
once, with a verifier whose batch-root cache is already warm.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.codec import SchemaStore
from broker.envelope import SealRequest, Verifier, seal, seal_batch
from broker.envelope.format import ENVELOPE_SCHEMA
from broker.errors import Error
from broker.trust.testing import UnsafeTestFederation
from tests.envelope.conftest import NOW

STORE = SchemaStore.default()
FIELDS = ["header", "wraps", "nonce", "ciphertext", "commitment", "signature"]
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@pytest.fixture(scope="module")
def samples(fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]) -> list[bytes]:
    """Return, per suite, one direct envelope to two recipients and a batch of three."""
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
        out.extend(
            seal_batch(reqs, sender=fed.identity("ES-PN"), trust=fed.trust, suite=suite, now=NOW)
        )
    return out


@pytest.fixture(scope="module")
def warm(samples: list[bytes], fed: UnsafeTestFederation) -> Verifier:
    """Return a verifier that has verified every sample (its batch cache is warm)."""
    verifier = Verifier(trust=fed.trust)
    for data in samples:
        verifier.verify(data, now=NOW)
    return verifier


def _must_fail(verifier: Verifier, fed: UnsafeTestFederation, data: bytes) -> None:
    try:
        opened = verifier.open(data, identity=fed.identity("DE-BKA"), now=NOW)
    except Error:
        return
    raise AssertionError(f"hostile envelope opened: {opened.header}")


def test_the_unmutated_samples_do_open(samples: list[bytes], fed: UnsafeTestFederation) -> None:
    verifier = Verifier(trust=fed.trust)
    for data in samples:
        assert verifier.open(data, identity=fed.identity("DE-BKA"), now=NOW).payload


@settings(max_examples=7_000, **SETTINGS)
@given(which=st.integers(0, 7), pos=st.integers(min_value=0), flip=st.integers(1, 255))
def test_single_byte_mutation_of_valid_envelope_never_opens(
    samples: list[bytes], fed: UnsafeTestFederation, which: int, pos: int, flip: int
) -> None:
    original = samples[which]
    data = bytearray(original)
    data[pos % len(data)] ^= flip
    # A fresh verifier per case: nothing cached may be needed to refuse a mutation.
    _must_fail(Verifier(trust=fed.trust), fed, bytes(data))


@settings(max_examples=1_500, **SETTINGS)
@given(
    body=st.binary(max_size=800),
    prefixed=st.booleans(),
)
def test_arbitrary_bytes_never_open(
    fed: UnsafeTestFederation, body: bytes, *, prefixed: bool
) -> None:
    # Half the cases carry the Envelope single-object prefix, to get past the first check.
    prefix = b"\xc3\x01" + STORE.fingerprint(ENVELOPE_SCHEMA) if prefixed else b""
    _must_fail(Verifier(trust=fed.trust), fed, prefix + body)


@settings(max_examples=500, **SETTINGS)
@given(which=st.integers(0, 7), cut=st.integers(min_value=0))
def test_truncated_envelope_never_opens(
    samples: list[bytes], fed: UnsafeTestFederation, which: int, cut: int
) -> None:
    data = samples[which]
    _must_fail(Verifier(trust=fed.trust), fed, data[: cut % len(data)])


@settings(max_examples=2_000, **SETTINGS)
@given(picks=st.lists(st.integers(0, 7), min_size=len(FIELDS), max_size=len(FIELDS)))
def test_fields_spliced_from_other_valid_envelopes_never_open(
    samples: list[bytes], warm: Verifier, fed: UnsafeTestFederation, picks: list[int]
) -> None:
    """Cut-and-paste: each field from some valid envelope (other suite, batch sibling...)."""
    if len(set(picks)) == 1:
        return  # that is just a valid envelope
    records = [STORE.decode(ENVELOPE_SCHEMA, s) for s in samples]
    spliced = {f: records[i][f] for f, i in zip(FIELDS, picks, strict=True)}
    _must_fail(warm, fed, STORE.encode(ENVELOPE_SCHEMA, spliced))


def test_every_single_byte_flip_of_every_sample_never_opens(
    samples: list[bytes], warm: Verifier, fed: UnsafeTestFederation
) -> None:
    """Exhaustive over positions (hypothesis samples them): one bit per byte, warm cache."""
    for data in samples[::2]:  # per suite: the direct envelope and one of the batch
        for pos in range(len(data)):
            mutated = bytearray(data)
            mutated[pos] ^= 1 << (pos % 8)
            _must_fail(warm, fed, bytes(mutated))
