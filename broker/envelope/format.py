"""The envelope wire format: header, suites, what is signed, what is derived.

See ``docs/envelope-format.md`` for the byte-level specification. In short:

* ``header`` — exact single-object bytes of ``eu.fed.envelope.Header``; AEAD
  associated data and signed as-is (never re-encoded);
* to-be-signed (TBS) = ``frame("fed-envelope-v1", header, frame("wraps", wrap...),
  nonce, SHA-256(ciphertext), commitment)`` with each wrap
  ``frame("wrap", agency, key_id, wrapped)``;
* HPKE ``info`` per wrap = ``frame("fed-envelope-v1/wrap", agency, key_id,
  envelope_id, SHA-256(header))`` (RFC 9180 section 5.1: ``info`` enters the key
  schedule; section 8.1: single-shot users put their context there);
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
import re
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broker._internal.framing import frame
from broker.errors import ConfigError

__all__ = [
    "ENVELOPE_ID",
    "FORMAT_VERSION",
    "KINDS",
    "MAX_LIFETIME",
    "SUITES",
    "Header",
    "SuiteSpec",
    "aware_now",
    "batch_message",
    "commitment",
    "tbs",
    "wrap_info",
]

FORMAT_VERSION = 1
HEADER_SCHEMA = "eu.fed.envelope.Header"
ENVELOPE_SCHEMA = "eu.fed.envelope.Envelope"
INNER_SCHEMA = "eu.fed.envelope.Inner"
KINDS = frozenset({"DOSSIER", "RECEIPT", "HIT_NOTIFICATION", "RELEASE_REQUEST", "RELEASE_GRANT"})
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


# RFC 9180 suites (IANA KEM, KDF, AEAD ids): DHKEM(X25519, HKDF-SHA256) 0x0020 (section 7.1)
# or MLKEM768-X25519 0x647A (X-Wing, draft-ietf-hpke-pq); HKDF-SHA256 0x0001; AES-256-GCM
# 0x0002. Wraps use base mode single-shot Seal/Open (section 6.1). The content itself is
# always AES-256-GCM under the content key.
SUITES: dict[str, SuiteSpec] = {
    "classic": SuiteSpec(
        name="classic",
        hpke=Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM),
        requires_ml_dsa=False,
    ),
    "pq-hybrid": SuiteSpec(
        name="pq-hybrid",
        hpke=Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM),
        requires_ml_dsa=True,
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
) -> bytes:
    """Return the to-be-signed bytes of an envelope."""
    return frame(
        "fed-envelope-v1",
        header,
        frame("wraps", *(wrap_frame(a, k, w) for a, k, w in wraps)),
        nonce,
        hashlib.sha256(ciphertext).digest(),
        commitment,
    )


def wrap_info(*, agency: str, key_id: str, envelope_id: str, header: bytes) -> bytes:
    """Return the HPKE ``info`` binding a wrap to its recipient, key, envelope and header."""
    return frame(
        "fed-envelope-v1/wrap",
        agency.encode(),
        key_id.encode(),
        envelope_id.encode(),
        hashlib.sha256(header).digest(),
    )


def commitment(content_key: bytes, envelope_id: str) -> bytes:
    """Return the key commitment: HKDF-SHA256 of the content key, bound to the envelope id."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=frame("fed-envelope-v1/commit", envelope_id.encode()),
    ).derive(content_key)


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
