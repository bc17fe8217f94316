"""Regenerate the stand-alone format vectors (run by hand; the suite only reads them).

    .venv/bin/python -m tests.vectors.spec.generate [framing keyfiles audit envelope_v2]

Writes, next to this file, the byte-exact examples ``docs/envelope-format.md``,
``docs/key-files.md`` and ``docs/audit.md`` refer to:

* ``framing.json`` — ``frame()`` of every domain-separation tag, and one root-signed
  trust statement (body, framed message, deterministic Ed25519 signature);
* ``keyfiles.json`` — a plain signing key file and a passphrase-sealed pq-hybrid
  decryption key file with a fixed salt, nonce and passphrase, with every
  intermediate (scrypt key, AAD, plaintext);
* ``envelope_v2.json`` — envelope format version 2 (batch KEM): one batch per suite
  with fixed batch secrets, content keys and nonces, every intermediate value
  (:mod:`tests.vectors.spec.envelope_v2`);
* ``audit.json`` — a three-event stream (exact event bytes, leaf hashes, the
  ``prev_leaf_hash`` chain), its signed checkpoint, a witness cosignature at a fixed
  time, an audit proof file, and a whole export archive (both Avro container files,
  ``manifest.json``, the framed signature input and ``manifest.sig``).

TEST KEYS ONLY: every seed is ``SHA-512("fed-spec-test-vector/<label>")`` truncated;
everything else is synthetic. ML-DSA signatures are hedged (random), so they are
stored once and checked by verification; Ed25519 ones are exact known answers.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import merkle
from broker._internal.framing import frame
from broker.audit.checkpoint import Checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, AuditEvent, AuditKind, origin_for
from broker.audit.export import write_archive
from broker.audit.findings import RawRecord
from broker.audit.note import add_signatures, sign_note
from broker.audit.proof import build_proof
from broker.audit.signers import NoteSigner, NoteVerifier
from broker.audit.verify import AuditVerifier
from broker.audit.witness import witness_name
from broker.codec import SchemaStore
from broker.synthetic import example_dossier
from broker.trust import keystore
from broker.trust.certificates import CERT_TYPE, FederationRoot
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from tests.vectors.spec.envelope_v2 import envelope_v2
from tests.vectors.spec.stream import stream as stream_vector

OUT = Path(__file__).parent
STORE = SchemaStore.default()
T0 = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)

#: Every frame() tag the formats use, and what it separates.
TAGS: list[tuple[str, str]] = [
    ("fed-envelope-v2", "envelope to-be-signed bytes, format version 2 (Ed25519, ML-DSA-65)"),
    ("fed-envelope-v2/batch-wrap", "HPKE info of a version 2 batch wrap (one per recipient key)"),
    ("fed-envelope-v2/wrap", "HKDF-Expand info of a version 2 per-envelope wrap key"),
    ("fed-envelope-v1", "envelope to-be-signed bytes, format version 1 (read only)"),
    ("wraps", "the list of key wraps inside the envelope TBS"),
    ("wrap", "one key wrap inside 'wraps'"),
    ("fed-envelope-v1/wrap", "HPKE info of one version 1 key wrap (read only)"),
    ("fed-envelope-v1/commit", "HKDF info of the key commitment"),
    ("fed-envelope-v1/batch", "batch signature message (root, u64be size)"),
    ("fed-key-cert-v1", "root-signed key certificate"),
    ("fed-revocation-v1", "root-signed revocation"),
    ("fed-audit-key-v1", "root-signed audit stream key statement"),
    ("fed-registry-manifest-v1", "root-signed registry manifest"),
    ("fed-audit-manifest-v1", "export manifest signature message"),
    ("fed-envelope-v2/stream", "HKDF info of a streamed dossier's part key (envelope id)"),
    ("fed-envelope-v2/part", "AAD of one part (envelope id, sender, u64be index, u8 final)"),
    ("fed-envelope-v2/part-chain", "part chain: c_0 (envelope id), c_i+1 (c_i, SHA-256(part))"),
    (
        "fed-hashlist-update-v1",
        "hash-list update signature message: frame(tag, topic, ListUpdate body) (docs/matching.md)",
    ),
    ("fed-notice-v1", "takedown notice signature message: frame(tag, body) (docs/hotlines.md)"),
    ("fed-atrest-v1", "AES-GCM AAD of a payload stored at rest (docs/recall.md)"),
    (
        "fed-control-v1",
        "owner's signed relay copy of a control order: frame(tag, owner, key_id, body) "
        "(docs/recall.md)",
    ),
]
CONTEXTS: list[tuple[str, str]] = [
    ("fed-envelope-v1", "ML-DSA-65 envelope and batch signatures"),
    ("fed-trust-v1", "ML-DSA-65 root signatures of certificates, revocations, audit keys"),
    ("fed-audit-v1", "ML-DSA-65 export manifest signature"),
    ("fed-hashlist-v1", "ML-DSA-65 hash-list update signature (list owner)"),
    ("fed-notice-v1", "ML-DSA-65 takedown notice signature (issuing hotline)"),
    ("fed-control-v1", "ML-DSA-65 relay copy of a control order (its owner)"),
]


def seed(label: str, n: int = 32) -> bytes:
    """Return the published test seed for ``label``."""
    return hashlib.sha512(f"fed-spec-test-vector/{label}".encode()).digest()[:n]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def root() -> FederationRoot:
    """The test federation root."""
    return FederationRoot.from_seeds({"ed25519": seed("root/ed"), "ml-dsa-65": seed("root/ml")})


def signing_pair() -> SigningKeyPair:
    """ES-PN's test signing key set (signs the export manifest)."""
    return SigningKeyPair.from_seeds(
        agency="ES-PN",
        key_id="sig-test-1",
        seeds={"ed25519": seed("es/ed"), "ml-dsa-65": seed("es/ml")},
    )


def decryption_pair() -> DecryptionKeyPair:
    """DE-BKA's test decryption key set (classic and pq-hybrid)."""
    return DecryptionKeyPair.from_seeds(
        agency="DE-BKA",
        key_id="enc-test-2",
        seeds={
            "x25519": seed("de/x"),
            "ml-kem-768": seed("de/mlkem", 64),
            "ml-kem-768-x25519.x25519": seed("de/hx"),
        },
    )


def audit_signer(stream: str) -> NoteSigner:
    """``stream``'s test checkpoint key."""
    key = Ed25519PrivateKey.from_private_bytes(seed(f"audit/{stream}"))
    return NoteSigner.from_private_key(name=origin_for(stream), private_key=key)


def framing() -> dict[str, Any]:
    fields = [b"ES-PN", bytes(range(4))]
    body = STORE.encode(
        "eu.fed.trust.KeyCertificate",
        {
            "agency": "ES-PN",
            "key_id": "sig-test-1",
            "usage": "SIGN",
            "public_keys": signing_pair().public().raw(),
            "not_before": T0 - dt.timedelta(days=1),
            "not_after": T0 + dt.timedelta(days=3649),
            "issued_at": T0 - dt.timedelta(days=1),
            "serial": "0011223344556677",
        },
    )
    r = root()
    signed = r._sign(CERT_TYPE, body)
    rec = STORE.decode("eu.fed.trust.SignedStatement", signed)
    return {
        "description": (
            "frame(tag, f1..fn) = u32be(len(tag)) || tag || u32be(n) || (u64be(len(fi)) || fi)*. "
            "'examples' frames every tag with the fields ['ES-PN', 00010203]; "
            "'statement' is one root-signed key certificate. TEST KEYS ONLY."
        ),
        "tags": [{"tag": t, "use": u} for t, u in TAGS],
        "ml_dsa_contexts": [{"context": c, "use": u} for c, u in CONTEXTS],
        "fields": [f.hex() for f in fields],
        "examples": [{"tag": t, "framed": frame(t, *fields).hex()} for t, _ in TAGS],
        "statement": {
            "root_seeds": {"ed25519": seed("root/ed").hex(), "ml-dsa-65": seed("root/ml").hex()},
            "root_public": {k: v.hex() for k, v in r.public().raw().items()},
            "type": CERT_TYPE,
            "body": body.hex(),
            "message": frame(CERT_TYPE, body).hex(),
            "ed25519": rec["ed25519"].hex(),
            "ml_dsa_65": rec["ml_dsa_65"].hex(),
            "signed": signed.hex(),
        },
    }


def _key_file(seeds: dict[str, bytes], passphrase: str | None, **meta: str) -> str:
    salt, nonce = seed("keyfile/salt", 16), seed("keyfile/nonce", 12)
    fixed = iter([salt, nonce])
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch("broker.trust.keystore.secrets.token_bytes", lambda n: next(fixed)),
    ):
        path = Path(tmp) / "k.key"
        keystore.save_key(path, seeds=seeds, passphrase=passphrase, **meta)
        return path.read_text()


def keyfiles() -> dict[str, Any]:
    sig, dec = signing_pair(), decryption_pair()
    passphrase = "correct horse battery staple (test only)"
    salt, nonce = seed("keyfile/salt", 16), seed("keyfile/nonce", 12)
    meta = {"agency": "DE-BKA", "key_id": "enc-test-2", "usage": "ENCRYPT"}
    plaintext = json.dumps({k: b64(v) for k, v in dec.seeds().items()}).encode()
    key = keystore._kdf(passphrase, salt)
    public = dec.public().raw()
    return {
        "description": (
            "Key files (JSON, UTF-8). 'plain' holds ES-PN's signing seeds in clear; 'sealed' "
            "holds DE-BKA's decryption seeds under scrypt(N=2^15, r=8, p=1, 32 bytes) + "
            "AES-256-GCM with AAD 'agency\\nkey_id\\nusage'. TEST KEYS ONLY."
        ),
        "plain": {
            "file": _key_file(sig.seeds(), None, agency="ES-PN", key_id="sig-test-1", usage="SIGN"),
            "public_keys": {k: v.hex() for k, v in sig.public().raw().items()},
        },
        "sealed": {
            "file": _key_file(dec.seeds(), passphrase, **meta),
            "passphrase": passphrase,
            "salt": salt.hex(),
            "nonce": nonce.hex(),
            "scrypt_key": key.hex(),
            "aad": "\n".join(meta.values()).encode().hex(),
            "plaintext": plaintext.decode(),
            "seeds": {k: v.hex() for k, v in dec.seeds().items()},
            "public_keys": {k: v.hex() for k, v in public.items() if k != "ml-kem-768"},
            "ml_kem_768_public_sha256": hashlib.sha256(public["ml-kem-768"]).hexdigest(),
        },
    }


def _events() -> list[AuditEvent]:
    base: dict[str, Any] = {"actor": "ES-PN", "envelope_id": "00112233445566778899aabbccddeeff"}
    digest = hashlib.sha256(b"synthetic envelope bytes").digest()
    return [
        AuditEvent(
            event_id=f"{i:032x}",
            kind=kind,
            at=T0 + dt.timedelta(seconds=i),
            envelope_sha256=digest,
            parties=["ES-PN", "DE-BKA"],
            message_kind="DOSSIER" if kind == AuditKind.PUBLISH else None,
            outcome="ok" if kind == AuditKind.PUBLISH else "delivered",
            ref=None if kind == AuditKind.PUBLISH else "ffeeddccbbaa99887766554433221100",
            **base,
        )
        for i, kind in enumerate([AuditKind.PUBLISH, AuditKind.RECEIPT, AuditKind.PUBLISH])
    ]


def audit() -> dict[str, Any]:
    signer, witness = audit_signer("ES-PN"), audit_signer("DE-BKA")
    values, prev, leaves = [], b"", []
    for seq, event in enumerate(_events()):
        value = event.at_position(stream="ES-PN", seq=seq, prev=prev).to_bytes()
        values.append(value)
        prev = merkle.leaf_hash(value)
        leaves.append(prev)
    tree = merkle.MerkleTree.from_leaf_hashes(leaves)
    body = Checkpoint(origin=origin_for("ES-PN"), size=3, root=tree.root()).to_note_body()
    note = sign_note(body, [signer])
    cosigned = add_signatures(note, [witness.cosigner(witness_name("DE-BKA")).at(1_768_469_400)])
    checkpoint = STORE.encode(
        CHECKPOINT_SCHEMA,
        {"stream": "ES-PN", "size": 3, "note": note, "at": T0 + dt.timedelta(seconds=5)},
    )
    records = [
        RawRecord(partition=0, offset=i, key=b"ES-PN", value=v)
        for i, v in enumerate([*values, checkpoint])
    ]
    verifier = AuditVerifier(
        keys={"ES-PN": NoteVerifier(name=signer.name, public_key=signer.verifier().public_key)}
    )
    verifier.keep_events = True
    verifier.feed_all(records)
    assert verifier.finish().ok, verifier.report.findings
    proof = json.dumps(build_proof(verifier, event_id=f"{1:032x}"), indent=2) + "\n"
    return {
        "description": (
            "One audit stream ES-PN of three events, its checkpoint at size 3, a DE-BKA "
            "witness cosignature at POSIX time 1768469400, the proof file of event seq 1 "
            "(`broker audit proof`), and an export archive signed by ES-PN's signing key. "
            "TEST KEYS ONLY."
        ),
        "audit_key_seeds": {
            "ES-PN": seed("audit/ES-PN").hex(),
            "DE-BKA": seed("audit/DE-BKA").hex(),
        },
        "audit_vkeys": {
            "ES-PN": signer.verifier_key_string(),
            "DE-BKA": witness.verifier_key_string(),
        },
        "witness_vkey": witness.cosigner(witness_name("DE-BKA")).verifier_key_string(),
        "events": [v.hex() for v in values],
        "leaf_hashes": [h.hex() for h in leaves],
        "root": tree.root().hex(),
        "note": note.decode(),
        "cosigned_note": cosigned.decode(),
        "checkpoint_record": checkpoint.hex(),
        "proof_file": proof,
        "export": export(records, note),
    }


def export(records: list[RawRecord], note: bytes) -> dict[str, Any]:
    r, sig = root(), signing_pair()
    cert = r.certify_signing(sig.public(), not_before=T0 - dt.timedelta(days=1), days=3650)
    ident = AgencyIdentity(agency="ES-PN", signing=sig, decryption={})
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "archive"
        write_archive(
            directory,
            records,
            exporter=ident,
            topic="fed.audit",
            streams={"ES-PN": {"size": 3}},
            latest_notes={"ES-PN": note},
        )
        files = {p.name: p.read_bytes() for p in sorted(directory.iterdir())}
    manifest = files["manifest.json"]
    return {
        "root_public": {k: v.hex() for k, v in r.public().raw().items()},
        "exporter_seeds": {k: v.hex() for k, v in sig.seeds().items()},
        "exporter_certificate": cert.hex(),
        "files": {name: data.hex() for name, data in files.items()},
        "signature_message": frame("fed-audit-manifest-v1", manifest).hex(),
    }


def _stream() -> dict[str, Any]:
    return stream_vector(example_dossier(0).to_bytes())


def main(names: list[str]) -> None:
    """Write the named vector files (default: all)."""
    makers = {
        "framing": framing,
        "keyfiles": keyfiles,
        "audit": audit,
        "envelope_v2": envelope_v2,
        "stream": _stream,
    }
    for name in names or makers:
        (OUT / f"{name}.json").write_text(json.dumps(makers[name](), indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
