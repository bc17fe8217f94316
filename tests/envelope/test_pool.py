"""Sealing in forked worker processes: same envelopes, each part under its own batch signature."""

from __future__ import annotations

from typing import Any

import pytest

from broker.envelope import SealRequest, Verifier
from broker.envelope.pool import EnvelopePool
from broker.errors import ConfigError, NotARecipientError
from broker.trust.testing import UnsafeTestFederation


async def test_pool_sealed_envelopes_open_only_for_their_recipients(
    fed: UnsafeTestFederation, codes: dict[str, Any], payload: bytes
) -> None:
    requests = [
        SealRequest(
            payload=payload, kind="DOSSIER", codes=codes, recipients=["DE-BKA", "PT-PJ"], sequence=i
        )
        for i in range(1, 6)
    ]
    with EnvelopePool(identity=fed.identity("ES-PN"), trust=fed.trust, workers=2) as pool:
        parts = await pool.seal(requests, suite="pq-hybrid")
    assert [len(p) for p in parts] == [3, 2]
    verifier = Verifier(trust=fed.trust)
    roots = {verifier.verify(p[0]).batch_root for p in parts}
    assert len(roots) == 2  # one batch signature per worker's part
    sealed = [data for part in parts for data in part]
    opened = [verifier.open(d, identity=fed.identity("PT-PJ")) for d in sealed]
    assert [o.header.sequence for o in opened] == [1, 2, 3, 4, 5]
    assert len({o.header.envelope_id for o in opened}) == 5
    assert all(o.payload == payload and o.header.sender == "ES-PN" for o in opened)
    with pytest.raises(NotARecipientError):
        verifier.open(sealed[0], identity=fed.identity("IT-PS"))


def test_pool_needs_a_worker(fed: UnsafeTestFederation) -> None:
    with pytest.raises(ConfigError):
        EnvelopePool(identity=fed.identity("ES-PN"), trust=fed.trust, workers=0)
