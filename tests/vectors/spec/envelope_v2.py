"""The envelope format version 2 (batch KEM) vector: ``envelope_v2.json``.

Written by ``.venv/bin/python -m tests.vectors.spec.generate envelope_v2``. One batch of
two envelopes from ES-PN per suite: envelope 0 to DE-BKA, envelope 1 to DE-BKA and
PT-PJ (a batch mixing recipient sets: DE-BKA's batch secret serves both envelopes,
PT-PJ has its own). Every secret is fixed (``seed(label)``): batch secrets, content
keys, AES-GCM nonces, envelope ids, and every key. The only randomized values are the
HPKE encapsulations inside ``batch_wrap`` (``cryptography`` takes no fixed ephemeral
key) and ML-DSA-65 signatures (hedged); both are stored once and checked by
decapsulation / verification. Everything derived from them is exact: wrap keys,
``env_wrap``, TBS, Merkle leaves, root, batch message and the Ed25519 signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from unittest import mock

from broker import merkle
from broker.codec import SchemaStore
from broker.envelope import SealRequest, Verifier, seal_batch
from broker.envelope.format import (
    ENVELOPE_SCHEMA,
    HEADER_SCHEMA,
    batch_message,
    batch_wrap_info,
    tbs,
    wrap_key,
)
from broker.trust.certificates import FederationRoot
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

STORE = SchemaStore.default()
T0 = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)
CODES: dict[str, Any] = {
    "handling": ["H0"],
    "h3_restrictions": None,
    "tlp": "AMBER",
    "pap": "GREEN",
    "classification": "RESTRICTED",
    "evaluation": {"source": "B", "information": "I2"},
    "legal_basis": "test",
    "purpose": "format version 2 known-answer vector",
    "retention_review": dt.date(2036, 1, 1),
}
RECIPIENTS = [["DE-BKA"], ["DE-BKA", "PT-PJ"]]


def _seed(label: str, n: int = 32) -> bytes:
    return hashlib.sha512(f"fed-spec-test-vector/{label}".encode()).digest()[:n]


def _decryption(agency: str, key_id: str, tag: str) -> DecryptionKeyPair:
    seeds = {
        "x25519": _seed(f"{tag}/x"),
        "ml-kem-768": _seed(f"{tag}/mlkem", 64),
        "ml-kem-768-x25519.x25519": _seed(f"{tag}/hx"),
    }
    return DecryptionKeyPair.from_seeds(agency=agency, key_id=key_id, seeds=seeds)


def _federation() -> tuple[FederationRoot, list[bytes], AgencyIdentity, list[DecryptionKeyPair]]:
    root = FederationRoot.from_seeds({"ed25519": _seed("root/ed"), "ml-dsa-65": _seed("root/ml")})
    sender = SigningKeyPair.from_seeds(
        agency="ES-PN",
        key_id="sig-test-1",
        seeds={"ed25519": _seed("es/ed"), "ml-dsa-65": _seed("es/ml")},
    )
    recipients = [
        _decryption("DE-BKA", "enc-test-2", "de"),
        _decryption("PT-PJ", "enc-test-3", "pt"),
    ]
    start = T0 - dt.timedelta(days=1)
    certs = [root.certify_signing(sender.public(), not_before=start, days=3650)]
    certs += [root.certify_encryption(r.public(), not_before=start, days=3650) for r in recipients]
    ident = AgencyIdentity(agency="ES-PN", signing=sender, decryption={})
    return root, certs, ident, recipients


def _seal(suite: str, ident: AgencyIdentity, trust: TrustStore, payload: bytes) -> list[bytes]:
    # Fixed batch secrets (one per recipient key, in first-use order) and nonces.
    secrets = iter([_seed(f"v2/{suite}/batch-secret/{a}") for a in ("DE-BKA", "PT-PJ")])
    nonces = iter([_seed(f"v2/{suite}/nonce/{i}", 12) for i in range(2)])
    requests = [
        SealRequest(
            payload=payload,
            kind="DOSSIER",
            codes=CODES,
            recipients=names,
            sequence=1 + i,
            envelope_id=hashlib.sha256(f"v2/{suite}/id/{i}".encode()).hexdigest()[:32],
            content_key=_seed(f"v2/{suite}/content-key/{i}"),
        )
        for i, names in enumerate(RECIPIENTS)
    ]
    # Batch secrets are the only 32-byte draws, nonces the only 12-byte ones (ids and
    # content keys are given); HPKE draws its ephemeral keys inside OpenSSL.
    with mock.patch("os.urandom", lambda n: next(secrets if n == 32 else nonces)):
        return seal_batch(requests, sender=ident, trust=trust, suite=suite, now=T0)


def _envelope(data: bytes, suite: str, index: int, bws: dict[str, bytes]) -> dict[str, Any]:
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    header = STORE.decode(HEADER_SCHEMA, outer["header"])
    eid = header["envelope_id"]
    wraps = []
    for w in outer["wraps"]:
        secret = _seed(f"v2/{suite}/batch-secret/{w['agency']}")
        bw = bws.setdefault(w["agency"], w["wrapped"][: len(w["wrapped"]) - 48])
        wk = wrap_key(
            secret,
            agency=w["agency"],
            key_id=w["key_id"],
            envelope_id=eid,
            header=outer["header"],
            batch_wrap=bw,
        )
        wraps.append(
            {
                "agency": w["agency"],
                "key_id": w["key_id"],
                "wrap_key": wk.hex(),
                "env_wrap": w["wrapped"][len(bw) :].hex(),
                "wrapped": w["wrapped"].hex(),
            }
        )
    message = tbs(
        header=outer["header"],
        wraps=[(w["agency"], w["key_id"], w["wrapped"]) for w in outer["wraps"]],
        nonce=outer["nonce"],
        ciphertext=outer["ciphertext"],
        commitment=outer["commitment"],
        version=2,
    )
    return {
        "envelope_id": eid,
        "content_key": _seed(f"v2/{suite}/content-key/{index}").hex(),
        "nonce": outer["nonce"].hex(),
        "header": outer["header"].hex(),
        "header_sha256": hashlib.sha256(outer["header"]).hexdigest(),
        "wraps": wraps,
        "ciphertext": outer["ciphertext"].hex(),
        "commitment": outer["commitment"].hex(),
        "tbs": message.hex(),
        "leaf_hash": merkle.leaf_hash(message).hex(),
        "envelope": data.hex(),
    }


def envelope_v2() -> dict[str, Any]:
    """Return the format version 2 vector document."""
    root, certs, ident, recipients = _federation()
    trust = TrustStore.from_signed(root=root.public(), certificates=certs, revocations=[])
    payload = STORE.encode("eu.fed.Evaluation", {"source": "C", "information": "I3"})
    cases = []
    for suite in ("classic", "pq-hybrid"):
        batch = _seal(suite, ident, trust, payload)
        bws: dict[str, bytes] = {}
        envelopes = [_envelope(data, suite, i, bws) for i, data in enumerate(batch)]
        sig = STORE.decode(ENVELOPE_SCHEMA, batch[0])["signature"]
        for data, names in zip(batch, RECIPIENTS, strict=True):  # written only if all open
            for r in recipients:
                if r.agency in names:
                    who = AgencyIdentity(
                        agency=r.agency, signing=ident.signing, decryption={r.key_id: r}
                    )
                    opened = Verifier(trust=trust).open(data, identity=who, now=T0)
                    assert opened.payload == payload
        cases.append(
            {
                "suite": suite,
                "batch_secrets": {
                    a: {
                        "secret": _seed(f"v2/{suite}/batch-secret/{a}").hex(),
                        "info": batch_wrap_info(
                            suite=suite,
                            sender="ES-PN",
                            sender_key_id="sig-test-1",
                            agency=a,
                            key_id=k,
                        ).hex(),
                        "batch_wrap": bws[a].hex(),
                    }
                    for a, k in (("DE-BKA", "enc-test-2"), ("PT-PJ", "enc-test-3"))
                },
                "envelopes": envelopes,
                "batch_root": sig["batch_root"].hex(),
                "batch_message": batch_message(sig["batch_root"], len(batch)).hex(),
                "ed25519_signature": sig["ed25519"].hex(),
                "ml_dsa_65_signature": None if sig["ml_dsa_65"] is None else sig["ml_dsa_65"].hex(),
            }
        )
    return {
        "description": (
            "Envelope format version 2 (batch KEM) vectors; docs/envelope-format.md section 4. "
            "TEST KEYS ONLY: every seed is SHA-512('fed-spec-test-vector/<label>') truncated."
        ),
        "now": T0.isoformat(),
        "root_public": {k: v.hex() for k, v in root.public().raw().items()},
        "certificates": [c.hex() for c in certs],
        "sender": {
            "agency": "ES-PN",
            "key_id": "sig-test-1",
            "seeds": {k: v.hex() for k, v in ident.signing.seeds().items()},
        },
        "recipients": [
            {
                "agency": r.agency,
                "key_id": r.key_id,
                "seeds": {k: v.hex() for k, v in r.seeds().items()},
            }
            for r in recipients
        ],
        "payload": payload.hex(),
        "cases": cases,
    }
