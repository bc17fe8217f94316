"""Regenerate the envelope known-answer vectors (run by hand; the suite only reads them).

    .venv/bin/python -m tests.vectors.envelope.generate

HPKE encapsulation and ML-DSA signing are randomized and `cryptography` takes no fixed
randomness, so the vectors are decryption vectors: fixed TEST keys (seeds below are
published test material, never used anywhere else) plus exact envelope bytes, and the
expected payload, provenance, to-be-signed bytes and (deterministic) Ed25519 signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from broker.codec import SchemaStore
from broker.envelope import SealRequest, seal, seal_batch
from broker.trust.certificates import FederationRoot
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

NOW = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)
OUT = Path(__file__).parent


def _seed(label: str, n: int = 32) -> bytes:
    return hashlib.sha512(f"fed-envelope-test-vector/{label}".encode()).digest()[:n]


def main() -> None:
    root = FederationRoot.from_seeds({"ed25519": _seed("root/ed"), "ml-dsa-65": _seed("root/ml")})
    sig_seeds = {"ed25519": _seed("es/ed"), "ml-dsa-65": _seed("es/ml")}
    enc_seeds = {
        "x25519": _seed("de/x"),
        "ml-kem-768": _seed("de/mlkem", 64),
        "ml-kem-768-x25519.x25519": _seed("de/hx"),
    }
    sender = SigningKeyPair.from_seeds(agency="ES-PN", key_id="sig-test-1", seeds=sig_seeds)
    es_enc = DecryptionKeyPair.from_seeds(
        agency="ES-PN",
        key_id="enc-test-1",
        seeds={k: _seed(f"es/{k}", len(v)) for k, v in enc_seeds.items()},
    )
    recipient = DecryptionKeyPair.from_seeds(agency="DE-BKA", key_id="enc-test-2", seeds=enc_seeds)
    de_sig = SigningKeyPair.from_seeds(
        agency="DE-BKA",
        key_id="sig-test-2",
        seeds={"ed25519": _seed("de/ed"), "ml-dsa-65": _seed("de/ml")},
    )
    start = NOW - dt.timedelta(days=1)
    certs = [
        root.certify_signing(sender.public(), not_before=start, days=3650),
        root.certify_encryption(es_enc.public(), not_before=start, days=3650),
        root.certify_signing(de_sig.public(), not_before=start, days=3650),
        root.certify_encryption(recipient.public(), not_before=start, days=3650),
    ]
    trust = TrustStore.from_signed(root=root.public(), certificates=certs, revocations=[])
    ident = AgencyIdentity(agency="ES-PN", signing=sender, decryption={es_enc.key_id: es_enc})
    codes = {
        "handling": ["H0", "H3"],
        "h3_restrictions": "synthetic test vector only",
        "tlp": "AMBER_STRICT",
        "pap": "AMBER",
        "classification": "RESTRICTED",
        "evaluation": {"source": "X", "information": "I4"},
        "legal_basis": "test",
        "purpose": "known-answer vector",
        "retention_review": dt.date(2036, 1, 1),
    }
    payload = SchemaStore.default().encode(
        "eu.fed.Evaluation", {"source": "C", "information": "I3"}
    )
    cases = []
    for suite in ("classic", "pq-hybrid"):
        direct = seal(
            payload,
            kind="DOSSIER",
            codes=codes,
            sender=ident,
            recipients=["DE-BKA"],
            trust=trust,
            sequence=42,
            suite=suite,
            now=NOW,
            envelope_id="00112233445566778899aabbccddeeff",
        )
        cases.append({"name": f"{suite}-direct", "envelope": direct.hex()})
        reqs = [
            SealRequest(
                payload=payload,
                kind="DOSSIER",
                codes=codes,
                recipients=["DE-BKA"],
                sequence=100 + i,
                envelope_id=f"{i:032x}",
            )
            for i in range(3)
        ]
        batch = seal_batch(reqs, sender=ident, trust=trust, suite=suite, now=NOW)
        cases.append({"name": f"{suite}-batch", "envelope": batch[1].hex()})
    doc = {
        "description": "Decryption known-answer vectors. TEST KEYS ONLY.",
        "now": NOW.isoformat(),
        "root_public": {k: v.hex() for k, v in root.public().raw().items()},
        "certificates": [c.hex() for c in certs],
        "sender_ed25519_seed": sig_seeds["ed25519"].hex(),
        "recipient": {
            "agency": "DE-BKA",
            "key_id": "enc-test-2",
            "seeds": {k: v.hex() for k, v in enc_seeds.items()},
        },
        "expected_payload": payload.hex(),
        "cases": cases,
    }
    (OUT / "vectors.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
