"""Seal payloads into envelopes: encrypt once, wrap per recipient, sign.

One fresh 256-bit content key per envelope encrypts the inner plaintext once
with AES-256-GCM (a random 96-bit nonce is safe: each key encrypts exactly one
message); the key is HPKE-sealed to each recipient's certified encryption key.
The sender signs the framed header, wraps, ciphertext hash and key commitment
(encrypt-then-sign) with Ed25519, plus ML-DSA-65 in the ``pq-hybrid`` suite.
:func:`seal_batch` signs many envelopes with one signature over an RFC 9162
Merkle root, each envelope carrying its audit path.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> from broker.envelope import open_envelope
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> codes = {"handling": ["H0"], "h3_restrictions": None, "tlp": "AMBER", "pap": "GREEN",
    ...          "classification": "RESTRICTED", "evaluation": {"source": "B", "information": "I2"},
    ...          "legal_basis": "test", "purpose": "test", "retention_review": fed.now.date()}
    >>> data = seal(b"\\xc3\\x01" + bytes(8) + b"hello", kind="DOSSIER", codes=codes,
    ...             sender=fed.identity("ES-PN"), recipients=["DE-BKA"], trust=fed.trust,
    ...             sequence=1)
    >>> open_envelope(data, trust=fed.trust, identity=fed.identity("DE-BKA")).payload[-5:]
    b'hello'
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import merkle
from broker.codec import SchemaStore
from broker.envelope.format import (
    ENVELOPE_ID,
    ENVELOPE_SCHEMA,
    FORMAT_VERSION,
    HEADER_SCHEMA,
    INNER_SCHEMA,
    KINDS,
    MAX_LIFETIME,
    ML_DSA_CONTEXT,
    SUITES,
    Header,
    aware_now,
    batch_message,
    commitment,
    tbs,
    wrap_info,
)
from broker.errors import ConfigError, UnknownAgencyError
from broker.trust.keys import AgencyIdentity
from broker.trust.registry import TrustStore

__all__ = ["DEFAULT_TTL", "SealRequest", "seal", "seal_batch"]

DEFAULT_TTL = dt.timedelta(days=30)


@dataclass(frozen=True, kw_only=True)
class SealRequest:
    """One envelope to seal in a batch."""

    payload: bytes
    kind: str
    codes: dict[str, Any]
    recipients: Sequence[str]
    sequence: int
    ttl: dt.timedelta = DEFAULT_TTL
    envelope_id: str | None = None
    #: The content key (32 bytes) to seal under; None: a fresh random one. Only for a
    #: streamed dossier's manifest, whose parts were encrypted under this key before.
    content_key: bytes | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown message kind {self.kind!r}")
        if not self.recipients or len(set(self.recipients)) != len(self.recipients):
            raise ConfigError("recipients must be a non-empty list without duplicates")
        if self.sequence < 1:
            raise ConfigError("sequence numbers start at 1")
        if not dt.timedelta(0) < self.ttl <= MAX_LIFETIME:
            raise ConfigError(f"ttl must be positive and at most {MAX_LIFETIME}")
        if self.envelope_id is not None and not ENVELOPE_ID.fullmatch(self.envelope_id):
            raise ConfigError("envelope_id must be 32 lower-case hex characters")
        if self.content_key is not None and len(self.content_key) != 32:
            raise ConfigError("content_key must be 32 bytes")


@dataclass(frozen=True, kw_only=True)
class _Unsigned:
    header: bytes
    wraps: list[tuple[str, str, bytes]]
    nonce: bytes
    ciphertext: bytes
    commitment: bytes

    def tbs(self) -> bytes:
        return tbs(
            header=self.header,
            wraps=self.wraps,
            nonce=self.nonce,
            ciphertext=self.ciphertext,
            commitment=self.commitment,
        )

    def encode(self, signature: dict[str, Any]) -> bytes:
        return SchemaStore.default().encode(
            ENVELOPE_SCHEMA,
            {
                "header": self.header,
                "wraps": [{"agency": a, "key_id": k, "wrapped": w} for a, k, w in self.wraps],
                "nonce": self.nonce,
                "ciphertext": self.ciphertext,
                "commitment": self.commitment,
                "signature": signature,
            },
        )


def _encrypt(
    req: SealRequest, *, sender: AgencyIdentity, trust: TrustStore, suite: str, now: dt.datetime
) -> _Unsigned:
    spec = SUITES.get(suite)
    if spec is None:
        raise ConfigError(f"unknown suite {suite!r}", detail="use classic or pq-hybrid")
    store = SchemaStore.default()
    fingerprint, _ = store.split(req.payload)
    names = sorted(req.recipients)
    keys = []
    for agency in names:
        try:
            keys.append(trust.encryption_key(agency=agency, at=now))
        except UnknownAgencyError as exc:
            raise ConfigError(f"unknown recipient agency {agency!r}") from exc
    envelope_id = req.envelope_id or secrets.token_hex(16)
    header = Header(
        format_version=FORMAT_VERSION,
        suite=suite,
        envelope_id=envelope_id,
        sender=sender.agency,
        sender_key_id=sender.signing.key_id,
        recipients=[(k.agency, k.key_id) for k in keys],
        created_at=now,
        expires_at=now + req.ttl,
        sequence=req.sequence,
        kind=req.kind,
        payload_fingerprint=fingerprint,
        codes=req.codes,
    )
    header_bytes = store.encode(HEADER_SCHEMA, header.to_avro())
    inner = store.encode(
        INNER_SCHEMA,
        {
            "sender": sender.agency,
            "recipients": names,
            "envelope_id": envelope_id,
            "payload": req.payload,
        },
    )
    content_key = req.content_key or AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(content_key).encrypt(nonce, inner, header_bytes)
    wraps = []
    for k in keys:
        public = k.x25519 if suite == "classic" else k.ml_kem_768_x25519
        info = wrap_info(
            agency=k.agency, key_id=k.key_id, envelope_id=envelope_id, header=header_bytes
        )
        # RFC 9180 section 6.1 single-shot base-mode Seal: returns enc || ct.
        wraps.append((k.agency, k.key_id, spec.hpke.encrypt(content_key, public, info=info)))
    return _Unsigned(
        header=header_bytes,
        wraps=wraps,
        nonce=nonce,
        ciphertext=ciphertext,
        commitment=commitment(content_key, envelope_id),
    )


def _sign(sender: AgencyIdentity, message: bytes, suite: str) -> tuple[bytes, bytes | None]:
    ed = sender.signing.ed25519.sign(message)
    ml = (
        sender.signing.ml_dsa_65.sign(message, context=ML_DSA_CONTEXT)
        if suite == "pq-hybrid"
        else None
    )
    return ed, ml


def seal(
    payload: bytes,
    *,
    kind: str,
    codes: dict[str, Any],
    sender: AgencyIdentity,
    recipients: Sequence[str],
    trust: TrustStore,
    sequence: int,
    suite: str = "classic",
    ttl: dt.timedelta = DEFAULT_TTL,
    now: dt.datetime | None = None,
    envelope_id: str | None = None,
    content_key: bytes | None = None,
) -> bytes:
    """Seal one Avro single-object ``payload`` to ``recipients``; return the envelope bytes."""
    req = SealRequest(
        payload=payload,
        kind=kind,
        codes=codes,
        recipients=recipients,
        sequence=sequence,
        ttl=ttl,
        envelope_id=envelope_id,
        content_key=content_key,
    )
    unsigned = _encrypt(req, sender=sender, trust=trust, suite=suite, now=aware_now(now))
    ed, ml = _sign(sender, unsigned.tbs(), suite)
    return unsigned.encode({"ed25519": ed, "ml_dsa_65": ml})


def seal_batch(
    requests: Sequence[SealRequest],
    *,
    sender: AgencyIdentity,
    trust: TrustStore,
    suite: str = "classic",
    now: dt.datetime | None = None,
) -> list[bytes]:
    """Seal many envelopes under one signature over the Merkle root of their TBS bytes."""
    if not requests:
        return []
    at = aware_now(now)
    unsigned = [_encrypt(r, sender=sender, trust=trust, suite=suite, now=at) for r in requests]
    leaves = [merkle.leaf_hash(u.tbs()) for u in unsigned]
    # One tree for the whole batch: every audit path is read from it (building a tree
    # per path would make a batch of n cost O(n^2) hashes).
    tree = merkle.MerkleTree.from_leaf_hashes(leaves)
    batch_root = tree.root()
    ed, ml = _sign(sender, batch_message(batch_root, len(leaves)), suite)
    return [
        u.encode(
            {
                "batch_root": batch_root,
                "leaf_index": i,
                "batch_size": len(leaves),
                "path": tree.inclusion_proof(i),
                "ed25519": ed,
                "ml_dsa_65": ml,
            }
        )
        for i, u in enumerate(unsigned)
    ]
