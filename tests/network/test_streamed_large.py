"""The sizes real cases produce, end to end on the real broker: a 1,000,000-reference
dossier and a 1 GiB attachment (``-m large``; minutes each, so not in the default run).

    nice .venv/bin/pytest -q -m large tests/network/test_streamed_large.py
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from broker.agency import Delivery
from broker.agency.streamed import StreamedDossier
from broker.devtools.bench.large import write_refs
from broker.media.references import read_references
from broker.synthetic import example_dossier
from tests.network.conftest import Network

pytestmark = [pytest.mark.large, pytest.mark.slow, pytest.mark.timeout(3600)]


async def _deliver(network: Network) -> list[tuple[str, int, str]]:
    """Route and consume; return (envelope id, references, SHA-256 of what was streamed)."""
    await network.router().run(until_idle=5.0)
    got: list[tuple[str, int, str]] = []

    async def handler(delivery: Delivery) -> None:
        d = delivery.dossier
        assert isinstance(d, StreamedDossier)
        digest = hashlib.sha256()
        count = 0
        for ref in d.media_stream():
            count += 1
            digest.update(ref.sha256.encode())
        for _, chunks in d.attachment_streams():
            for chunk in chunks:
                digest.update(chunk)
        got.append((delivery.envelope_id, count, digest.hexdigest()))

    async with network.node("DE-BKA") as de:
        stats = await de.consume(handler=handler, until_idle=5.0)
    assert stats.reasons == {}
    return got


async def test_dossier_of_1000000_references_arrives_complete_and_verified(
    network: Network, tmp_path: Path
) -> None:
    refs = tmp_path / "refs.jsonl"
    write_refs(refs, 1_000_000)
    async with network.node("ES-PN") as es:
        bare = example_dossier(5).model_copy(update={"media": []})  # exactly the 1,000,000
        sent = await es.publish_large(bare, media=read_references(refs), to=["DE-BKA"])
    expected = hashlib.sha256()
    for i in range(1_000_000):
        expected.update(f"{i:064x}".encode())
    assert await _deliver(network) == [(sent.envelope_id, 1_000_000, expected.hexdigest())]


async def test_attachment_of_1_gib_arrives_byte_for_byte(network: Network, tmp_path: Path) -> None:
    blob = tmp_path / "disk-image.bin"
    dossier = example_dossier(6)  # its own few references are streamed first
    expected = hashlib.sha256()
    for ref in dossier.media:
        expected.update(ref.sha256.encode())
    with blob.open("wb") as f:
        block = os.urandom(1 << 20)
        for i in range(1024):
            chunk = block[:-4] + i.to_bytes(4, "big")
            f.write(chunk)
            expected.update(chunk)
    async with network.node("ES-PN") as es:
        sent = await es.publish_large(dossier, attachments=[blob], to=["DE-BKA"])
    assert await _deliver(network) == [(sent.envelope_id, len(dossier.media), expected.hexdigest())]
