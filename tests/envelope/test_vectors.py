"""Known-answer vectors (tests/vectors/envelope/vectors.json), checked two ways.

1. Independently of ``broker.envelope``: framing, HPKE ``info``, unwrap, commitment, AEAD,
   to-be-signed bytes, Merkle leaf, batch message and signatures are recomputed here from
   raw primitives following docs/envelope-format.md, as another implementation would.
2. Through the public API: the opener returns the expected payload and provenance.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import (
    AEAD,
    KDF,
    KEM,
    MLKEM768X25519PrivateKey,
    Suite,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broker import merkle
from broker.codec import SchemaStore
from broker.envelope import FORMAT_VERSION, Verifier
from broker.errors import SignatureError
from broker.trust.certificates import RootPublicKeys
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

VECTORS = Path(__file__).parents[1] / "vectors" / "envelope" / "vectors.json"
DOC: dict[str, Any] = json.loads(VECTORS.read_text())
NOW = dt.datetime.fromisoformat(DOC["now"])
STORE = SchemaStore.default()
CASES = DOC["cases"]
IDS = [c["name"] for c in CASES]


def _frame(tag: str, *fields: bytes) -> bytes:
    # Written from the spec, not imported: u32be(len tag) tag u32be(n) (u64be(len f) f)*
    out = struct.pack(">I", len(tag.encode())) + tag.encode() + struct.pack(">I", len(fields))
    return out + b"".join(struct.pack(">Q", len(f)) + f for f in fields)


def _hpke(suite: str) -> Suite:
    kem = KEM.X25519 if suite == "classic" else KEM.MLKEM768_X25519
    return Suite(kem, KDF.HKDF_SHA256, AEAD.AES_256_GCM)


def _private(suite: str) -> x25519.X25519PrivateKey | MLKEM768X25519PrivateKey:
    seeds = {k: bytes.fromhex(v) for k, v in DOC["recipient"]["seeds"].items()}
    if suite == "classic":
        return x25519.X25519PrivateKey.from_private_bytes(seeds["x25519"])
    return MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(seeds["ml-kem-768"]),
        x25519.X25519PrivateKey.from_private_bytes(seeds["ml-kem-768-x25519.x25519"]),
    )


def _header_from_json(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        **rec,
        "created_at": dt.datetime.fromisoformat(rec["created_at"]),
        "expires_at": dt.datetime.fromisoformat(rec["expires_at"]),
        "payload_fingerprint": bytes.fromhex(rec["payload_fingerprint"]),
        "codes": {
            **rec["codes"],
            "retention_review": dt.date.fromisoformat(rec["codes"]["retention_review"]),
        },
    }


def test_frame_examples() -> None:
    for ex in DOC["frame_examples"]:
        fields = [bytes.fromhex(f) for f in ex["fields"]]
        assert _frame(ex["tag"], *fields).hex() == ex["framed"]


def test_schema_fingerprints_are_the_published_ones() -> None:
    for name, fp in DOC["schema_fingerprints"].items():
        assert STORE.fingerprint(name).hex() == fp


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vector_step_by_step_from_raw_primitives(case: dict[str, Any]) -> None:
    h = {k: bytes.fromhex(v) for k, v in case.items() if isinstance(v, str) and k != "name"}
    outer = STORE.decode("eu.fed.envelope.Envelope", h["envelope"])
    header = outer["header"]
    record = _header_from_json(case["header_record"])
    suite = record["suite"]
    # The header bytes are the canonical single-object encoding of the record.
    assert header == h["header"] == STORE.encode("eu.fed.envelope.Header", record)
    # HPKE info and unwrap (RFC 9180 section 6.1 single-shot, base mode).
    ((wrap,),) = ([w for w in outer["wraps"] if w["agency"] == "DE-BKA"],)
    info = _frame(
        "fed-envelope-v1/wrap",
        b"DE-BKA",
        wrap["key_id"].encode(),
        record["envelope_id"].encode(),
        hashlib.sha256(header).digest(),
    )
    assert info == h["wrap_info"]
    content_key = _hpke(suite).decrypt(wrap["wrapped"], _private(suite), info=info)
    assert content_key == h["content_key"]
    # Key commitment, then AEAD with the header as associated data.
    commit = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=_frame("fed-envelope-v1/commit", record["envelope_id"].encode()),
    ).derive(content_key)
    assert hmac.compare_digest(commit, outer["commitment"]) and commit == h["commitment"]
    assert outer["nonce"] == h["nonce"]
    inner = AESGCM(content_key).decrypt(outer["nonce"], outer["ciphertext"], header)
    assert inner == h["inner"]
    inner_rec = STORE.decode("eu.fed.envelope.Inner", inner)
    assert inner_rec["payload"].hex() == DOC["expected_payload"]
    assert inner_rec["sender"] == record["sender"]
    # What is signed.
    wraps = _frame(
        "wraps",
        *(
            _frame("wrap", w["agency"].encode(), w["key_id"].encode(), w["wrapped"])
            for w in outer["wraps"]
        ),
    )
    message = _frame(
        "fed-envelope-v1",
        header,
        wraps,
        outer["nonce"],
        hashlib.sha256(outer["ciphertext"]).digest(),
        outer["commitment"],
    )
    assert message == h["tbs"]
    sig = outer["signature"]
    if "batch_root" in sig:
        leaf = hashlib.sha256(b"\x00" + message).digest()
        assert leaf == h["leaf_hash"]
        merkle.verify_inclusion(
            leaf_hash=leaf,
            index=sig["leaf_index"],
            size=sig["batch_size"],
            proof=sig["path"],
            root=sig["batch_root"],
        )
        signed = _frame(
            "fed-envelope-v1/batch", sig["batch_root"], struct.pack(">Q", sig["batch_size"])
        )
        assert signed == h["batch_message"]
    else:
        signed = message
    seeds = {k: bytes.fromhex(v) for k, v in DOC["sender"]["seeds"].items()}
    # Ed25519 (RFC 8032) is deterministic: the exact signature bytes are a known answer.
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(seeds["ed25519"])
    assert ed.sign(signed) == sig["ed25519"] == h["ed25519_signature"]
    # ML-DSA-65 signing is hedged (randomized) in cryptography: verify only.
    if suite == "pq-hybrid":
        ml = mldsa.MLDSA65PrivateKey.from_seed_bytes(seeds["ml-dsa-65"]).public_key()
        ml.verify(sig["ml_dsa_65"], signed, context=b"fed-envelope-v1")
    else:
        assert sig["ml_dsa_65"] is None


@pytest.fixture(scope="module")
def trust() -> TrustStore:
    root = RootPublicKeys.from_raw({k: bytes.fromhex(v) for k, v in DOC["root_public"].items()})
    return TrustStore.from_signed(
        root=root, certificates=[bytes.fromhex(c) for c in DOC["certificates"]], revocations=[]
    )


@pytest.fixture(scope="module")
def recipient() -> AgencyIdentity:
    r = DOC["recipient"]
    pair = DecryptionKeyPair.from_seeds(
        agency=r["agency"],
        key_id=r["key_id"],
        seeds={k: bytes.fromhex(v) for k, v in r["seeds"].items()},
    )
    unused = SigningKeyPair.generate(agency=r["agency"], key_id="unused")
    return AgencyIdentity(agency=r["agency"], signing=unused, decryption={pair.key_id: pair})


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vector_opens_to_the_expected_payload_and_provenance(
    case: dict[str, Any], trust: TrustStore, recipient: AgencyIdentity
) -> None:
    opened = Verifier(trust=trust).open(
        bytes.fromhex(case["envelope"]), identity=recipient, now=NOW
    )
    assert opened.payload.hex() == DOC["expected_payload"]
    assert opened.provenance() == case["provenance"]


def test_vector_with_one_flipped_ciphertext_byte_is_rejected(
    trust: TrustStore, recipient: AgencyIdentity
) -> None:
    outer = STORE.decode("eu.fed.envelope.Envelope", bytes.fromhex(CASES[0]["envelope"]))
    ct = bytearray(outer["ciphertext"])
    ct[0] ^= 1
    outer["ciphertext"] = bytes(ct)
    with pytest.raises(SignatureError):
        Verifier(trust=trust).open(
            STORE.encode("eu.fed.envelope.Envelope", outer), identity=recipient, now=NOW
        )


def test_v1_envelopes_stay_readable_after_the_version_bump(
    trust: TrustStore, recipient: AgencyIdentity
) -> None:
    # vectors.json was sealed by the version 1 sealer (before FORMAT_VERSION became 2).
    assert FORMAT_VERSION == 2
    verifier = Verifier(trust=trust)
    for case in CASES:
        opened = verifier.open(bytes.fromhex(case["envelope"]), identity=recipient, now=NOW)
        assert opened.header.format_version == 1
        assert opened.payload.hex() == DOC["expected_payload"]
    assert verifier.cached_batch_secrets == 0  # version 1 wraps never touch the KEM cache
