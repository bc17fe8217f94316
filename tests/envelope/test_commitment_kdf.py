"""The key commitment written as two HMACs is exactly pyca/cryptography's HKDF-SHA256."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broker._internal.framing import frame
from broker.envelope.format import commitment


def test_key_commitment_equals_the_librarys_hkdf_for_random_keys_and_ids() -> None:
    for _ in range(200):
        key = os.urandom(32)
        envelope_id = os.urandom(16).hex()
        expected = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=frame("fed-envelope-v1/commit", envelope_id.encode()),
        ).derive(key)
        assert commitment(key, envelope_id) == expected


def test_a_commitment_to_another_key_or_envelope_differs() -> None:
    key, other = os.urandom(32), os.urandom(32)
    assert commitment(key, "a" * 32) != commitment(other, "a" * 32)
    assert commitment(key, "a" * 32) != commitment(key, "b" * 32)
