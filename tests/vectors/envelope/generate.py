"""The generator of the FROZEN format version 1 known-answer vectors (``vectors.json``).

``vectors.json`` was written by this script before format version 2 (commit dfd80f0,
``.venv/bin/python -m tests.vectors.envelope.generate``); sealers now write only version
2, so it is kept as is: it is the proof that version 1 envelopes stay readable
(tests/envelope/test_vectors.py). Version 2 vectors: ``tests/vectors/spec/envelope_v2.json``.

HPKE encapsulation is randomized and ``cryptography`` takes no fixed ephemeral key, and
ML-DSA-65 signing is randomized (hedged) with no deterministic option, so these are
*decryption* vectors: fixed TEST keys (the seeds below are derived from public labels and
are published test material, used nowhere else) plus exact envelope bytes, with every
intermediate value an implementer needs to check its own code step by step: header bytes
and the record they encode, HPKE ``info``, content key, commitment, nonce, inner plaintext,
to-be-signed bytes, Merkle leaf and batch message, the deterministic Ed25519 signature,
and the provenance the opener must report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import merkle
from broker._internal.framing import frame
from broker.codec import SchemaStore
from broker.envelope import SealRequest, Verifier, seal, seal_batch
from broker.envelope.format import (
    ENVELOPE_SCHEMA,
    HEADER_SCHEMA,
    INNER_SCHEMA,
    SUITES,
    batch_message,
    tbs,
    wrap_info,
)
from broker.trust.certificates import FederationRoot
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

NOW = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)
OUT = Path(__file__).parent
STORE = SchemaStore.default()
FRAME_EXAMPLES: list[tuple[str, list[bytes]]] = [
    ("t", [b"ab"]),
    ("fed-envelope-v1/commit", []),
    ("x", [b"", b"\x00\xff"]),
]


def _seed(label: str, n: int = 32) -> bytes:
    return hashlib.sha512(f"fed-envelope-test-vector/{label}".encode()).digest()[:n]


def header_to_json(rec: dict[str, Any]) -> dict[str, Any]:
    """Return the decoded Header record as JSON (times ISO 8601, bytes hex)."""
    return {
        **rec,
        "created_at": rec["created_at"].isoformat(),
        "expires_at": rec["expires_at"].isoformat(),
        "payload_fingerprint": rec["payload_fingerprint"].hex(),
        "codes": {**rec["codes"], "retention_review": rec["codes"]["retention_review"].isoformat()},
    }


def _case(
    name: str, data: bytes, *, recipient: DecryptionKeyPair, trust: TrustStore
) -> dict[str, Any]:
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    header = STORE.decode(HEADER_SCHEMA, outer["header"])
    suite = header["suite"]
    wrap = next(w for w in outer["wraps"] if w["agency"] == recipient.agency)
    info = wrap_info(
        agency=wrap["agency"],
        key_id=wrap["key_id"],
        envelope_id=header["envelope_id"],
        header=outer["header"],
    )
    private = recipient.x25519 if suite == "classic" else recipient.ml_kem_768_x25519
    content_key = SUITES[suite].hpke.decrypt(wrap["wrapped"], private, info=info)
    inner = AESGCM(content_key).decrypt(outer["nonce"], outer["ciphertext"], outer["header"])
    message = tbs(
        header=outer["header"],
        wraps=[(w["agency"], w["key_id"], w["wrapped"]) for w in outer["wraps"]],
        nonce=outer["nonce"],
        ciphertext=outer["ciphertext"],
        commitment=outer["commitment"],
        version=1,
    )
    sig = outer["signature"]
    case: dict[str, Any] = {
        "name": name,
        "envelope": data.hex(),
        "header": outer["header"].hex(),
        "header_record": header_to_json(header),
        "wrap_info": info.hex(),
        "content_key": content_key.hex(),
        "commitment": outer["commitment"].hex(),
        "nonce": outer["nonce"].hex(),
        "inner": inner.hex(),
        "tbs": message.hex(),
        "ed25519_signature": sig["ed25519"].hex(),
    }
    if "batch_root" in sig:
        case["leaf_hash"] = merkle.leaf_hash(message).hex()
        case["batch_message"] = batch_message(sig["batch_root"], sig["batch_size"]).hex()
    ident = AgencyIdentity(
        agency=recipient.agency,
        signing=SigningKeyPair.generate(agency=recipient.agency, key_id="unused"),
        decryption={recipient.key_id: recipient},
    )
    case["provenance"] = Verifier(trust=trust).open(data, identity=ident, now=NOW).provenance()
    return case


def main() -> None:
    """Write ``vectors.json``."""
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
    payload = STORE.encode("eu.fed.Evaluation", {"source": "C", "information": "I3"})
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
        cases.append(_case(f"{suite}-direct", direct, recipient=recipient, trust=trust))
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
        cases.append(_case(f"{suite}-batch", batch[1], recipient=recipient, trust=trust))
    doc = {
        "description": (
            "Envelope format v1 decryption known-answer vectors. TEST KEYS ONLY: every seed "
            "is SHA-512('fed-envelope-test-vector/<label>') truncated; never use them."
        ),
        "now": NOW.isoformat(),
        "schema_fingerprints": {
            name: STORE.fingerprint(name).hex()
            for name in (ENVELOPE_SCHEMA, HEADER_SCHEMA, INNER_SCHEMA)
        },
        "frame_examples": [
            {"tag": tag, "fields": [f.hex() for f in fields], "framed": frame(tag, *fields).hex()}
            for tag, fields in FRAME_EXAMPLES
        ],
        "root_public": {k: v.hex() for k, v in root.public().raw().items()},
        "certificates": [c.hex() for c in certs],
        "sender": {
            "agency": "ES-PN",
            "key_id": "sig-test-1",
            "seeds": {k: v.hex() for k, v in sig_seeds.items()},
        },
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
