"""Format version 2 (batch KEM) vectors (tests/vectors/spec/envelope_v2.json), two ways.

1. From raw primitives and docs/envelope-format.md only, as another implementation
   would: batch-wrap ``info``, HPKE Open of the batch secret, HKDF-Expand wrap keys, the
   48-byte ``env_wrap`` (exact), commitment, AEAD, TBS, Merkle root, batch message and
   the exact Ed25519 signature.
2. Through the public API: each named recipient opens each envelope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from broker.codec import SchemaStore
from broker.envelope import Verifier
from broker.trust.certificates import RootPublicKeys
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

DOC: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "spec" / "envelope_v2.json").read_text()
)
NOW = dt.datetime.fromisoformat(DOC["now"])
STORE = SchemaStore.default()
CASES = DOC["cases"]


def _frame(tag: str, *fields: bytes) -> bytes:
    # Written from the spec, not imported: u32be(len tag) tag u32be(n) (u64be(len f) f)*
    out = struct.pack(">I", len(tag.encode())) + tag.encode() + struct.pack(">I", len(fields))
    return out + b"".join(struct.pack(">Q", len(f)) + f for f in fields)


def _recipient(agency: str) -> dict[str, Any]:
    return next(r for r in DOC["recipients"] if r["agency"] == agency)


def _private(suite: str, agency: str) -> x25519.X25519PrivateKey | MLKEM768X25519PrivateKey:
    seeds = {k: bytes.fromhex(v) for k, v in _recipient(agency)["seeds"].items()}
    if suite == "classic":
        return x25519.X25519PrivateKey.from_private_bytes(seeds["x25519"])
    return MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(seeds["ml-kem-768"]),
        x25519.X25519PrivateKey.from_private_bytes(seeds["ml-kem-768-x25519.x25519"]),
    )


@pytest.mark.parametrize("case", CASES, ids=[c["suite"] for c in CASES])
def test_v2_vector_step_by_step_from_raw_primitives(case: dict[str, Any]) -> None:
    suite = case["suite"]
    kem = KEM.X25519 if suite == "classic" else KEM.MLKEM768_X25519
    hpke = Suite(kem, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
    secrets: dict[str, tuple[bytes, bytes]] = {}
    for agency, bs in case["batch_secrets"].items():
        info = _frame(
            "fed-envelope-v2/batch-wrap",
            suite.encode(),
            b"ES-PN",
            b"sig-test-1",
            agency.encode(),
            _recipient(agency)["key_id"].encode(),
        )
        assert info.hex() == bs["info"]
        batch_wrap = bytes.fromhex(bs["batch_wrap"])
        assert len(batch_wrap) == (80 if suite == "classic" else 1168)
        secret = hpke.decrypt(batch_wrap, _private(suite, agency), info=info)
        assert secret.hex() == bs["secret"]
        secrets[agency] = (secret, batch_wrap)
    leaves = []
    for env in case["envelopes"]:
        h = {
            k: bytes.fromhex(v) for k, v in env.items() if isinstance(v, str) and k != "envelope_id"
        }
        eid, header, content_key = env["envelope_id"].encode(), h["header"], h["content_key"]
        outer = STORE.decode("eu.fed.envelope.Envelope", h["envelope"])
        assert STORE.decode("eu.fed.envelope.Header", header)["format_version"] == 2
        framed_wraps = []
        for w, got in zip(env["wraps"], outer["wraps"], strict=True):
            secret, batch_wrap = secrets[w["agency"]]
            info = _frame(
                "fed-envelope-v2/wrap",
                w["agency"].encode(),
                w["key_id"].encode(),
                eid,
                hashlib.sha256(header).digest(),
                hashlib.sha256(batch_wrap).digest(),
            )
            wrap_key = HKDFExpand(algorithm=hashes.SHA256(), length=32, info=info).derive(secret)
            assert wrap_key.hex() == w["wrap_key"]
            env_wrap = AESGCM(wrap_key).encrypt(
                bytes(12), content_key, None
            )  # exact: no randomness
            assert env_wrap.hex() == w["env_wrap"] and len(env_wrap) == 48
            assert got["wrapped"] == batch_wrap + env_wrap == bytes.fromhex(w["wrapped"])
            framed_wraps.append(
                _frame("wrap", w["agency"].encode(), w["key_id"].encode(), got["wrapped"])
            )
        commit = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=_frame("fed-envelope-v1/commit", eid),
        ).derive(content_key)
        assert commit == outer["commitment"] == h["commitment"]
        inner = STORE.decode(
            "eu.fed.envelope.Inner",
            AESGCM(content_key).decrypt(h["nonce"], h["ciphertext"], header),
        )
        assert (
            inner["payload"].hex() == DOC["payload"] and inner["envelope_id"] == env["envelope_id"]
        )
        message = _frame(
            "fed-envelope-v2",
            header,
            _frame("wraps", *framed_wraps),
            h["nonce"],
            hashlib.sha256(h["ciphertext"]).digest(),
            commit,
        )
        assert message == h["tbs"]
        leaves.append(hashlib.sha256(b"\x00" + message).digest())
        assert leaves[-1] == h["leaf_hash"]
    # RFC 9162 root of two leaves, then the signed batch message.
    root = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
    assert root.hex() == case["batch_root"]
    signed = _frame("fed-envelope-v1/batch", root, struct.pack(">Q", 2))
    assert signed.hex() == case["batch_message"]
    seeds = {k: bytes.fromhex(v) for k, v in DOC["sender"]["seeds"].items()}
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(seeds["ed25519"])
    assert ed.sign(signed).hex() == case["ed25519_signature"]
    if suite == "pq-hybrid":
        ml = mldsa.MLDSA65PrivateKey.from_seed_bytes(seeds["ml-dsa-65"]).public_key()
        ml.verify(bytes.fromhex(case["ml_dsa_65_signature"]), signed, context=b"fed-envelope-v1")
    else:
        assert case["ml_dsa_65_signature"] is None


@pytest.mark.parametrize("case", CASES, ids=[c["suite"] for c in CASES])
def test_v2_vector_opens_for_each_named_recipient(case: dict[str, Any]) -> None:
    root = RootPublicKeys.from_raw({k: bytes.fromhex(v) for k, v in DOC["root_public"].items()})
    trust = TrustStore.from_signed(
        root=root, certificates=[bytes.fromhex(c) for c in DOC["certificates"]], revocations=[]
    )
    verifier = Verifier(trust=trust)
    for env in case["envelopes"]:
        for w in env["wraps"]:
            r = _recipient(w["agency"])
            pair = DecryptionKeyPair.from_seeds(
                agency=r["agency"],
                key_id=r["key_id"],
                seeds={k: bytes.fromhex(v) for k, v in r["seeds"].items()},
            )
            ident = AgencyIdentity(
                agency=r["agency"],
                signing=SigningKeyPair.generate(agency=r["agency"], key_id="unused"),
                decryption={pair.key_id: pair},
            )
            opened = verifier.open(bytes.fromhex(env["envelope"]), identity=ident, now=NOW)
            assert opened.payload.hex() == DOC["payload"]
            assert opened.header.format_version == 2
    # DE-BKA's batch secret served both envelopes; PT-PJ has its own: two decapsulations.
    assert verifier.cached_batch_secrets == 2
