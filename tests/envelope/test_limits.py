"""Size limits of the verifier (red-team finding F2)."""

from __future__ import annotations

import pytest

from broker.envelope import MAX_ENVELOPE_BYTES, Verifier
from broker.errors import OversizedEnvelopeError
from broker.trust.testing import UnsafeTestFederation


def test_oversized_envelope_is_refused_before_any_decoding() -> None:
    fed = UnsafeTestFederation.create(agencies=["ES-PN"])
    # Not even an envelope: only the size is looked at, so the reason is the size.
    with pytest.raises(OversizedEnvelopeError) as info:
        Verifier(trust=fed.trust).verify(b"\xc3\x01" + bytes(MAX_ENVELOPE_BYTES))
    assert info.value.reason == "too-large"
    assert MAX_ENVELOPE_BYTES < 1_000_000  # well below Kafka's default message.max.bytes
