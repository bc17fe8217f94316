"""The streamed-dossier vector (``stream.json``): keys, nonces, AAD, part records, chain.

Written by ``generate.py``; docs/envelope-format.md ("Streamed dossiers") refers to it.
Everything here is deterministic: the content key and envelope id are fixed, part
encryption uses derived nonces, and the manifest payload is plain Avro. (The manifest
*envelope* is an ordinary envelope, with its own randomness, and is not in the vector.)

* ``small``: a one-part stream of two MEDIA items; every byte given in hex;
* ``two_parts``: a stream of ``PART_SIZE + 5`` bytes where byte ``i`` is ``i mod 251``
  (an ATTACHMENT section), given by the SHA-256 of each part record and the chain.
"""

from __future__ import annotations

import hashlib
from typing import Any

from broker.envelope.stream import (
    PART_SIZE,
    PartSealer,
    chain_start,
    part_aad,
    part_nonce,
    stream_key,
)
from broker.models import MediaReference
from broker.models.streamed import Manifest, Section, encode_media_item

CONTENT_KEY = hashlib.sha512(b"fed-spec-test-vector/stream-key").digest()[:32]
ENVELOPE_ID = "00112233445566778899aabbccddeeff"
SENDER = "ES-PN"
RECIPIENTS = ["DE-BKA", "PT-PJ"]


def _sealer() -> PartSealer:
    return PartSealer(
        content_key=CONTENT_KEY, envelope_id=ENVELOPE_ID, sender=SENDER, recipients=RECIPIENTS
    )


def stream(dossier: bytes) -> dict[str, Any]:
    """Return the vector document; ``dossier`` is the manifest's single-object Dossier."""
    items = [
        encode_media_item(
            MediaReference(sha256=f"{i:064x}", md5=f"{i:032x}", category="UNCLASSIFIED")
        )
        for i in (1, 2)
    ]
    sealer = _sealer()
    records = [r for item in items for r in sealer.write(item)]
    records += list(sealer.close())
    manifest = Manifest(
        dossier=dossier,
        sections=[
            Section(kind="MEDIA", name="", media_type="", items=2, bytes=sum(map(len, items)))
        ],
        part_count=sealer.count,
        part_size=PART_SIZE,
        total_bytes=sealer.total,
        root=sealer.root,
    )
    big = bytes(i % 251 for i in range(PART_SIZE + 5))
    sealer2 = _sealer()
    records2 = [*sealer2.write(big), *sealer2.close()]
    chain = chain_start(ENVELOPE_ID)
    chains = [chain.hex()]
    for r in records2:
        chain = hashlib.sha256(
            # the same rule as broker.envelope.stream.chain_next, spelled out
            b"".join(
                [
                    len(b"fed-envelope-v2/part-chain").to_bytes(4, "big"),
                    b"fed-envelope-v2/part-chain",
                    (2).to_bytes(4, "big"),
                    (32).to_bytes(8, "big"),
                    chain,
                    (32).to_bytes(8, "big"),
                    hashlib.sha256(r).digest(),
                ]
            )
        ).digest()
        chains.append(chain.hex())
    assert chain == sealer2.root
    return {
        "description": (
            "Streamed dossier (docs/envelope-format.md, Streamed dossiers). content_key is "
            "the manifest envelope's content key K; stream_key = HKDF-SHA256(K, salt=none, "
            "info=frame('fed-envelope-v2/stream', envelope_id)). TEST KEY ONLY."
        ),
        "content_key": CONTENT_KEY.hex(),
        "envelope_id": ENVELOPE_ID,
        "sender": SENDER,
        "recipients": RECIPIENTS,
        "part_size": PART_SIZE,
        "stream_key": stream_key(CONTENT_KEY, ENVELOPE_ID).hex(),
        "small": {
            "plaintext": b"".join(items).hex(),
            "nonce_0": part_nonce(0, True).hex(),
            "aad_0": part_aad(envelope_id=ENVELOPE_ID, sender=SENDER, index=0, final=True).hex(),
            "part_records": [r.hex() for r in records],
            "chain": [chain_start(ENVELOPE_ID).hex(), sealer.root.hex()],
            "manifest_payload": manifest.to_bytes().hex(),
        },
        "two_parts": {
            "plaintext_rule": "byte i = i mod 251, for i in 0 .. part_size + 4",
            "nonces": [part_nonce(0, False).hex(), part_nonce(1, True).hex()],
            "part_record_sha256": [hashlib.sha256(r).hexdigest() for r in records2],
            "part_record_lengths": [len(r) for r in records2],
            "chain": chains,
            "total_bytes": sealer2.total,
        },
    }
