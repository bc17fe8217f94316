"""Seal payloads into envelopes: encrypt once, wrap per recipient, sign.

One fresh 256-bit content key per envelope encrypts the inner plaintext once
with AES-256-GCM (a random 96-bit nonce is safe: each key encrypts exactly one
message). Format version 2 wraps it per recipient with the batch KEM of
:mod:`broker.envelope.wraps`: one HPKE encapsulation per recipient key per batch
(a single :func:`seal` is a batch of one), a derived wrap key per envelope.
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
from dataclasses import dataclass, field
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
)
from broker.envelope.wraps import BatchWrapper
from broker.errors import ConfigError, UnknownAgencyError
from broker.trust.keys import AgencyIdentity, EncryptionPublicKeys
from broker.trust.registry import TrustStore

__all__ = ["DEFAULT_TTL", "SealRequest", "seal", "seal_batch"]

DEFAULT_TTL = dt.timedelta(days=30)
_DIRECT = "eu.fed.envelope.DirectSignature"
_BATCH = "eu.fed.envelope.BatchSignature"


@dataclass(frozen=True, kw_only=True)
class SealRequest:
    """One envelope to seal in a batch.

    ``content_key``: the envelope's 32-byte AES-256-GCM content key, if the caller
    chose it before (a streamed dossier's manifest is sealed under the key its parts
    were derived from); it must be fresh and used for this one envelope only. Default:
    a fresh random key.
    """

    payload: bytes
    kind: str
    codes: dict[str, Any]
    recipients: Sequence[str]
    sequence: int
    ttl: dt.timedelta = DEFAULT_TTL
    envelope_id: str | None = None
    #: The content key (32 bytes) to seal under; None: a fresh random one. Only for a
    #: streamed dossier's manifest, whose parts were encrypted under this key before.
    content_key: bytes | None = field(default=None, repr=False)

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
            version=FORMAT_VERSION,
        )

    def encode(self, signature: dict[str, Any], branch: str) -> bytes:
        # The union branch named (fastavro's tuple notation): no union resolution per record.
        return SchemaStore.default().encode(
            ENVELOPE_SCHEMA,
            {
                "header": self.header,
                "wraps": [{"agency": a, "key_id": k, "wrapped": w} for a, k, w in self.wraps],
                "nonce": self.nonce,
                "ciphertext": self.ciphertext,
                "commitment": self.commitment,
                "signature": (branch, signature),
            },
        )


def _recipient_keys(
    requests: Sequence[SealRequest], *, trust: TrustStore, now: dt.datetime
) -> dict[str, EncryptionPublicKeys]:
    """Look up every recipient's encryption key once for the whole batch (at ``now``)."""
    keys: dict[str, EncryptionPublicKeys] = {}
    for req in requests:
        for agency in req.recipients:
            if agency not in keys:
                try:
                    keys[agency] = trust.encryption_key(agency=agency, at=now)
                except UnknownAgencyError as exc:
                    raise ConfigError(f"unknown recipient agency {agency!r}") from exc
    return keys


def _encrypt(
    req: SealRequest,
    *,
    sender: AgencyIdentity,
    keys: dict[str, EncryptionPublicKeys],
    wrapper: BatchWrapper,
    suite: str,
    now: dt.datetime,
    envelope_id: str,
) -> _Unsigned:
    store = SchemaStore.default()
    fingerprint, _ = store.split(req.payload)
    names = sorted(req.recipients)
    recipients = [keys[agency] for agency in names]
    header = Header(
        format_version=FORMAT_VERSION,
        suite=suite,
        envelope_id=envelope_id,
        sender=sender.agency,
        sender_key_id=sender.signing.key_id,
        recipients=[(k.agency, k.key_id) for k in recipients],
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
    content_key = (
        req.content_key if req.content_key is not None else AESGCM.generate_key(bit_length=256)
    )
    nonce = os.urandom(12)
    ciphertext = AESGCM(content_key).encrypt(nonce, inner, header_bytes)
    wraps = [
        (
            k.agency,
            k.key_id,
            wrapper.wrap(k, envelope_id=envelope_id, header=header_bytes, content_key=content_key),
        )
        for k in recipients
    ]
    return _Unsigned(
        header=header_bytes,
        wraps=wraps,
        nonce=nonce,
        ciphertext=ciphertext,
        commitment=commitment(content_key, envelope_id),
    )


def _encrypt_all(
    requests: Sequence[SealRequest],
    *,
    sender: AgencyIdentity,
    trust: TrustStore,
    suite: str,
    now: dt.datetime,
) -> list[_Unsigned]:
    """Encrypt a batch: keys looked up once, one batch secret per recipient key."""
    if suite not in SUITES:
        raise ConfigError(f"unknown suite {suite!r}", detail="use classic or pq-hybrid")
    ids = [r.envelope_id or secrets.token_hex(16) for r in requests]
    # Every wrap key encrypts one content key under a fixed nonce: ids must be distinct.
    if len(set(ids)) != len(ids):
        raise ConfigError("envelope ids must be distinct within a batch")
    chosen = [r.content_key for r in requests if r.content_key is not None]
    if len(set(chosen)) != len(chosen):
        raise ConfigError("a content key seals one envelope only")
    keys = _recipient_keys(requests, trust=trust, now=now)
    wrapper = BatchWrapper(suite=suite, sender=sender.agency, sender_key_id=sender.signing.key_id)
    return [
        _encrypt(r, sender=sender, keys=keys, wrapper=wrapper, suite=suite, now=now, envelope_id=i)
        for r, i in zip(requests, ids, strict=True)
    ]


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
    """Seal one Avro single-object ``payload`` to ``recipients``; return the envelope bytes.

    A batch of one (one HPKE encapsulation per recipient) with a direct signature.
    ``content_key``: see :class:`SealRequest`.
    """
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
    (unsigned,) = _encrypt_all([req], sender=sender, trust=trust, suite=suite, now=aware_now(now))
    ed, ml = _sign(sender, unsigned.tbs(), suite)
    return unsigned.encode({"ed25519": ed, "ml_dsa_65": ml}, _DIRECT)


def seal_batch(
    requests: Sequence[SealRequest],
    *,
    sender: AgencyIdentity,
    trust: TrustStore,
    suite: str = "classic",
    now: dt.datetime | None = None,
) -> list[bytes]:
    """Seal many envelopes under one signature over the Merkle root of their TBS bytes.

    One batch for the KEM too: each recipient key gets one fresh batch secret, HPKE
    encapsulated once, whatever the number of envelopes addressed to it (requests may
    name different recipient sets).
    """
    if not requests:
        return []
    unsigned = _encrypt_all(requests, sender=sender, trust=trust, suite=suite, now=aware_now(now))
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
            },
            _BATCH,
        )
        for i, u in enumerate(unsigned)
    ]
