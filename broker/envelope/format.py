"""The envelope wire format: header, suites, what is signed, what is derived.

See ``docs/envelope-format.md`` for the byte-level specification. In short:

* ``header`` — exact single-object bytes of ``eu.fed.envelope.Header``; AEAD
  associated data and signed as-is (never re-encoded);
* to-be-signed (TBS) = ``frame("fed-envelope-v2", header, frame("wraps", wrap...),
  nonce, SHA-256(ciphertext), commitment)`` with each wrap
  ``frame("wrap", agency, key_id, wrapped)`` (tag ``fed-envelope-v1`` in version 1);
* version 2 key wraps (batch KEM, :mod:`broker.envelope.wraps`): ``wrapped =
  batch_wrap || env_wrap``; ``batch_wrap`` = HPKE single-shot Seal of a fresh 32-byte
  batch secret S per (batch, recipient key), ``info`` = :func:`batch_wrap_info`;
  ``env_wrap`` = AES-256-GCM(:func:`wrap_key` (S, ...), nonce 0^96, content key);
* version 1 key wraps: HPKE Seal of the content key itself, ``info`` =
  ``frame("fed-envelope-v1/wrap", agency, key_id, envelope_id, SHA-256(header))``
  (RFC 9180 section 5.1: ``info`` enters the key schedule; section 8.1: single-shot
  users put their context there);
* key commitment = HKDF-SHA256(content key, salt=none,
  info=``frame("fed-envelope-v1/commit", envelope_id)``), 32 bytes;
* batch: leaf = ``SHA-256(0x00 || TBS)`` (RFC 9162), signed message =
  ``frame("fed-envelope-v1/batch", root, u64(size))``.

Example::

    >>> SUITES["classic"].requires_ml_dsa, SUITES["pq-hybrid"].requires_ml_dsa
    (False, True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from broker._internal.framing import frame
from broker.errors import ConfigError

__all__ = [
    "ENVELOPE_ID",
    "FORMAT_VERSION",
    "KINDS",
    "MAX_LIFETIME",
    "READABLE_VERSIONS",
    "SUITES",
    "Header",
    "SuiteSpec",
    "aware_now",
    "batch_message",
    "batch_wrap_info",
    "commitment",
    "tbs",
    "wrap_info",
    "wrap_key",
]

#: The version sealers write. Version 2 (batch KEM) only changes the key wraps and the
#: TBS tag; every other field and construction is the same as in version 1.
FORMAT_VERSION = 2
#: Every version a verifier accepts: version 1 envelopes stay readable.
READABLE_VERSIONS = frozenset({1, 2})
#: Bytes of a batch secret, and of ``env_wrap`` (AES-256-GCM of a 32-byte key: ct || tag).
BATCH_SECRET_BYTES = 32
ENV_WRAP_BYTES = 48
#: The AES-GCM nonce of ``env_wrap``: fixed, as every wrap key encrypts exactly one message.
ENV_WRAP_NONCE = bytes(12)
HEADER_SCHEMA = "eu.fed.envelope.Header"
ENVELOPE_SCHEMA = "eu.fed.envelope.Envelope"
INNER_SCHEMA = "eu.fed.envelope.Inner"
KINDS = frozenset(
    {"DOSSIER", "RECEIPT", "HIT_NOTIFICATION", "RELEASE_REQUEST", "RELEASE_GRANT"}
    | {"URL_REPORT", "NOTICE_STATUS"}  # hotlines (broker.hotline)
    | {"CONTROL", "COMPLIANCE"}  # recall / restrict by the owner, and each holder's answer
    # The request workflow (broker.requests, docs/requests.md).
    | {"REQUEST", "REPLY", "REFUSAL", "DEADLINE_NOTICE"}
)
ML_DSA_CONTEXT = b"fed-envelope-v1"
#: 128 random bits as 32 lower-case hex characters.
ENVELOPE_ID = re.compile(r"[0-9a-f]{32}")
#: Longest accepted ``expires_at - created_at``: bounds how long a consumer's replay
#: seen-set must remember an envelope id.
MAX_LIFETIME = dt.timedelta(days=400)


@dataclass(frozen=True, kw_only=True)
class SuiteSpec:
    """One cryptographic suite."""

    name: str
    hpke: Suite
    requires_ml_dsa: bool
    #: Bytes of the KEM encapsulation ``enc`` (RFC 9180 ``Nenc``).
    enc_bytes: int

    @property
    def batch_wrap_bytes(self) -> int:
        """Return the length of a version 2 ``batch_wrap``: ``enc || Seal(S)`` (S + 16-byte tag)."""
        return self.enc_bytes + BATCH_SECRET_BYTES + 16


# RFC 9180 suites (IANA KEM, KDF, AEAD ids): DHKEM(X25519, HKDF-SHA256) 0x0020 (section 7.1)
# or MLKEM768-X25519 0x647A (X-Wing, draft-ietf-hpke-pq); HKDF-SHA256 0x0001; AES-256-GCM
# 0x0002. Wraps use base mode single-shot Seal/Open (section 6.1). The content itself is
# always AES-256-GCM under the content key.
SUITES: dict[str, SuiteSpec] = {
    "classic": SuiteSpec(
        name="classic",
        hpke=Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM),
        requires_ml_dsa=False,
        enc_bytes=32,
    ),
    "pq-hybrid": SuiteSpec(
        name="pq-hybrid",
        hpke=Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM),
        requires_ml_dsa=True,
        enc_bytes=1120,
    ),
}


@dataclass(frozen=True, kw_only=True)
class Header:
    """The decoded cleartext header."""

    format_version: int
    suite: str
    envelope_id: str
    sender: str
    sender_key_id: str
    recipients: list[tuple[str, str]]
    created_at: dt.datetime
    expires_at: dt.datetime
    sequence: int
    kind: str
    payload_fingerprint: bytes
    codes: dict[str, Any]

    def to_avro(self) -> dict[str, Any]:
        """Return the Avro record."""
        return {
            "format_version": self.format_version,
            "suite": self.suite,
            "envelope_id": self.envelope_id,
            "sender": self.sender,
            "sender_key_id": self.sender_key_id,
            "recipients": [{"agency": a, "key_id": k} for a, k in self.recipients],
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "sequence": self.sequence,
            "kind": self.kind,
            "payload_fingerprint": self.payload_fingerprint,
            "codes": self.codes,
        }

    @classmethod
    def from_avro(cls, rec: dict[str, Any]) -> Header:
        """Build from the Avro record."""
        return cls(
            **{k: v for k, v in rec.items() if k != "recipients"},
            recipients=[(r["agency"], r["key_id"]) for r in rec["recipients"]],
        )

    @property
    def recipient_agencies(self) -> list[str]:
        """Recipient agency ids, in header order."""
        return [a for a, _ in self.recipients]


def wrap_frame(agency: str, key_id: str, wrapped: bytes) -> bytes:
    """Return the framed form of one key wrap (as signed)."""
    return frame("wrap", agency.encode(), key_id.encode(), wrapped)


def tbs(
    *,
    header: bytes,
    wraps: list[tuple[str, str, bytes]],
    nonce: bytes,
    ciphertext: bytes,
    commitment: bytes,
    version: int,
) -> bytes:
    """Return the to-be-signed bytes of an envelope of format ``version``."""
    fields = (
        header,
        frame("wraps", *(wrap_frame(a, k, w) for a, k, w in wraps)),
        nonce,
        hashlib.sha256(ciphertext).digest(),
        commitment,
    )
    if version == 2:
        return frame("fed-envelope-v2", *fields)
    if version == 1:
        return frame("fed-envelope-v1", *fields)
    raise ConfigError(f"no envelope format version {version}")


def wrap_info(*, agency: str, key_id: str, envelope_id: str, header: bytes) -> bytes:
    """Return the HPKE ``info`` binding a wrap to its recipient, key, envelope and header."""
    return frame(
        "fed-envelope-v1/wrap",
        agency.encode(),
        key_id.encode(),
        envelope_id.encode(),
        hashlib.sha256(header).digest(),
    )


def batch_wrap_info(
    *, suite: str, sender: str, sender_key_id: str, agency: str, key_id: str
) -> bytes:
    """Return the HPKE ``info`` of a version 2 batch wrap: suite, sender key, recipient key."""
    return frame(
        "fed-envelope-v2/batch-wrap",
        suite.encode(),
        sender.encode(),
        sender_key_id.encode(),
        agency.encode(),
        key_id.encode(),
    )


def wrap_key(
    batch_secret: bytes,
    *,
    agency: str,
    key_id: str,
    envelope_id: str,
    header: bytes,
    batch_wrap: bytes,
) -> bytes:
    """Return a version 2 wrap key: HKDF-Expand(S, info, 32) with S as the PRK (RFC 5869).

    One output block, so it is exactly ``T(1) = HMAC-SHA256(S, info || 0x01)``. The info
    binds the recipient key, the envelope id, the header and the batch wrap it came from.
    """
    info = frame(
        "fed-envelope-v2/wrap",
        agency.encode(),
        key_id.encode(),
        envelope_id.encode(),
        hashlib.sha256(header).digest(),
        hashlib.sha256(batch_wrap).digest(),
    )
    return hmac.digest(batch_secret, info + b"\x01", "sha256")


#: HKDF's salt when none is given: HashLen (32) zero bytes (RFC 5869 section 2.2).
_NO_SALT = bytes(32)


def commitment(content_key: bytes, envelope_id: str) -> bytes:
    """Return the key commitment: HKDF-SHA256 of the content key, bound to the envelope id.

    HKDF (RFC 5869) with no salt and one 32-byte block is exactly two HMACs:
    PRK = HMAC-SHA256(32 zero bytes, key) (section 2.2: no salt is HashLen zeros), then
    T(1) = HMAC-SHA256(PRK, info || 0x01). Written so, it costs a third of building an
    ``HKDF`` object per envelope on both sides; ``tests/envelope/test_commitment_kdf.py``
    checks it against pyca/cryptography's ``HKDF``.
    """
    prk = hmac.digest(_NO_SALT, content_key, "sha256")
    info = frame("fed-envelope-v1/commit", envelope_id.encode())
    return hmac.digest(prk, info + b"\x01", "sha256")


def batch_message(root: bytes, size: int) -> bytes:
    """Return the message signed for a batch: its Merkle root and size."""
    return frame("fed-envelope-v1/batch", root, struct.pack(">Q", size))


def aware_now(now: dt.datetime | None) -> dt.datetime:
    """Return ``now`` (timezone-aware, as every header time is), or the current UTC time."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ConfigError("now must be timezone-aware")
    return now
