"""Streamed dossiers: parts under one content key, bound by one signed manifest.

A dossier too large for one record (up to :data:`DEFAULT_MAX_DOSSIER_BYTES` and
beyond) travels as parts, then a manifest. ``docs/envelope-format.md`` ("Streamed
dossiers") specifies every byte; in short, for envelope id ``E``, sender ``S`` and
the manifest's content key ``K``:

* stream key ``Ks = HKDF-SHA256(K, salt=none, info=frame("fed-envelope-v2/stream", E))``;
* the plaintext stream (the streamed sections, in order) is cut into parts of exactly
  :data:`PART_SIZE` bytes, the last one shorter (1..PART_SIZE bytes, 0 only for an
  empty stream) and flagged final;
* part ``i`` = AES-256-GCM(Ks, nonce = u64(i) || u8(final) || 00 00 00, aad =
  ``frame("fed-envelope-v2/part", E, S, u64(i), u8(final))``) — the STREAM
  construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): a part moved to another
  index, cut short, or taken from another dossier does not decrypt;
* part record = single-object ``eu.fed.envelope.Part`` (cleartext routing fields and
  the ciphertext), at most :data:`~broker.envelope.MAX_ENVELOPE_BYTES`;
* chain ``c_0 = SHA-256(frame("fed-envelope-v2/part-chain", E))``, ``c_{i+1} =
  SHA-256(frame("fed-envelope-v2/part-chain", c_i, SHA-256(part record i)))``; the
  manifest (``eu.fed.DossierManifest``, the payload of an ordinary signed DOSSIER
  envelope sealed under ``K`` with id ``E``) carries ``c_n``, ``n`` and the sizes, so
  its one signature binds every part record byte for byte.

Example::

    >>> key, eid = bytes(32), "ab" * 16
    >>> sealer = PartSealer(content_key=key, envelope_id=eid, sender="ES-PN",
    ...                     recipients=["DE-BKA"])
    >>> records = [*sealer.write(b"x" * (PART_SIZE + 1)), *sealer.close()]
    >>> opener = PartOpener(content_key=key, envelope_id=eid, sender="ES-PN",
    ...                     recipients=["DE-BKA"])
    >>> b"".join(opener.open(r) for r in records) == b"x" * (PART_SIZE + 1)
    True
    >>> opener.root == sealer.root, sealer.count, sealer.total
    (True, 2, 262145)
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broker._internal.framing import frame
from broker.codec import SchemaStore
from broker.envelope.format import ENVELOPE_ID
from broker.errors import MalformedPartError, PartMismatchError, SchemaError

__all__ = [
    "DEFAULT_MAX_DOSSIER_BYTES",
    "PART_SCHEMA",
    "PART_SIZE",
    "STREAM_VERSION",
    "Part",
    "PartOpener",
    "PartSealer",
    "chain_next",
    "chain_start",
    "is_part",
    "part_aad",
    "part_nonce",
    "stream_key",
]

PART_SCHEMA = "eu.fed.envelope.Part"
#: The format version of part records (envelope format version 2).
STREAM_VERSION = 2
#: Plaintext bytes of every part but the final one (256 KiB): a part record is then
#: about 256 KiB + 16 (tag) + routing fields, far below MAX_ENVELOPE_BYTES (900 KiB).
PART_SIZE = 256 * 1024
#: Default maximum plaintext size of one dossier (2 GiB; ``Settings.max_dossier_bytes``).
DEFAULT_MAX_DOSSIER_BYTES = 2 * 1024**3
_TAG = 16


def stream_key(content_key: bytes, envelope_id: str) -> bytes:
    """Return the key the parts of dossier ``envelope_id`` are encrypted under."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=frame("fed-envelope-v2/stream", envelope_id.encode()),
    ).derive(content_key)


def part_nonce(index: int, final: bool) -> bytes:
    """Return the 96-bit nonce of part ``index``: u64(index) || u8(final) || 0x000000."""
    return struct.pack(">QB", index, 1 if final else 0) + b"\x00\x00\x00"


def part_aad(*, envelope_id: str, sender: str, index: int, final: bool) -> bytes:
    """Return the associated data of part ``index``."""
    return frame(
        "fed-envelope-v2/part",
        envelope_id.encode(),
        sender.encode(),
        struct.pack(">Q", index),
        b"\x01" if final else b"\x00",
    )


def chain_start(envelope_id: str) -> bytes:
    """Return ``c_0``, the part chain of no part."""
    return hashlib.sha256(frame("fed-envelope-v2/part-chain", envelope_id.encode())).digest()


def chain_next(chain: bytes, record: bytes) -> bytes:
    """Return the chain extended by one part record (its exact bytes)."""
    return hashlib.sha256(
        frame("fed-envelope-v2/part-chain", chain, hashlib.sha256(record).digest())
    ).digest()


def is_part(data: bytes) -> bool:
    """Whether ``data`` claims to be a part record (by its schema fingerprint; verifies nothing).

    >>> is_part(b"not a part")
    False
    """
    store = SchemaStore.default()
    return bytes(data[2:10]) == store.fingerprint(PART_SCHEMA) and data[:2] == b"\xc3\x01"


@dataclass(frozen=True, kw_only=True)
class Part:
    """A decoded part record (cleartext fields; nothing verified but the shape)."""

    envelope_id: str
    sender: str
    recipients: list[str]
    index: int
    final: bool
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        """Return the single-object ``eu.fed.envelope.Part`` encoding."""
        return SchemaStore.default().encode(
            PART_SCHEMA,
            {
                "format_version": STREAM_VERSION,
                "envelope_id": self.envelope_id,
                "sender": self.sender,
                "recipients": self.recipients,
                "index": self.index,
                "final": self.final,
                "ciphertext": self.ciphertext,
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int) -> Part:
        """Decode a part record; raise :class:`MalformedPartError` unless well formed.

        Checks: size (before decoding), canonical encoding, version, envelope id,
        recipients sorted, unique and non-empty, index >= 0, ciphertext length.
        """
        if len(data) > max_bytes:
            raise MalformedPartError("part rejected", detail=f"{len(data)} bytes > {max_bytes}")
        store = SchemaStore.default()
        try:
            rec = store.decode(PART_SCHEMA, data)
        except SchemaError as exc:
            raise MalformedPartError("part rejected", detail=exc.diagnostics()) from None
        if store.encode(PART_SCHEMA, rec) != bytes(data):
            raise MalformedPartError("part rejected", detail="non-canonical part encoding")
        if rec["format_version"] != STREAM_VERSION:
            raise MalformedPartError("part rejected", detail=f"version {rec['format_version']}")
        recipients = rec["recipients"]
        if (
            not ENVELOPE_ID.fullmatch(rec["envelope_id"])
            or not recipients
            or recipients != sorted(set(recipients))
            or rec["index"] < 0
            or not _TAG <= len(rec["ciphertext"]) <= PART_SIZE + _TAG
        ):
            raise MalformedPartError(
                "part rejected", detail="bad envelope id, recipients, index or length"
            )
        return cls(
            envelope_id=rec["envelope_id"],
            sender=rec["sender"],
            recipients=recipients,
            index=rec["index"],
            final=rec["final"],
            ciphertext=rec["ciphertext"],
        )


class PartSealer:
    """Cut a plaintext stream into encrypted part records (see the module docstring).

    :meth:`write` yields every part record that became complete; :meth:`close` yields
    the final one. Holds at most one part of plaintext.
    """

    def __init__(
        self, *, content_key: bytes, envelope_id: str, sender: str, recipients: list[str]
    ) -> None:
        self._aead = AESGCM(stream_key(content_key, envelope_id))
        self.envelope_id = envelope_id
        self.sender = sender
        self.recipients = sorted(recipients)
        self._buffer = bytearray()
        self.count = 0
        self.total = 0
        self.root = chain_start(envelope_id)
        self._closed = False

    def _emit(self, chunk: bytes, *, final: bool) -> bytes:
        index = self.count
        aad = part_aad(envelope_id=self.envelope_id, sender=self.sender, index=index, final=final)
        record = Part(
            envelope_id=self.envelope_id,
            sender=self.sender,
            recipients=self.recipients,
            index=index,
            final=final,
            ciphertext=self._aead.encrypt(part_nonce(index, final), chunk, aad),
        ).to_bytes()
        self.count += 1
        self.root = chain_next(self.root, record)
        return record

    def write(self, data: bytes) -> Iterator[bytes]:
        """Add plaintext; yield the part records it completed (never the final one)."""
        if self._closed:
            raise MalformedPartError("stream already closed")
        self.total += len(data)
        self._buffer += data
        # Strictly more than one part buffered: the first is not the final one.
        while len(self._buffer) > PART_SIZE:
            chunk = bytes(self._buffer[:PART_SIZE])
            del self._buffer[:PART_SIZE]
            yield self._emit(chunk, final=False)

    def close(self) -> Iterator[bytes]:
        """Yield the final part record (1..PART_SIZE bytes; empty only for an empty stream)."""
        if not self._closed:
            self._closed = True
            chunk, self._buffer = bytes(self._buffer), bytearray()
            yield self._emit(chunk, final=True)


class PartOpener:
    """Decrypt the part records of one dossier in index order, extending the chain.

    Raises :class:`PartMismatchError` for a record of another dossier, sender or
    recipient list, a wrong index, a part after the final one, a non-final part of the
    wrong size, or one that does not decrypt.
    """

    def __init__(
        self, *, content_key: bytes, envelope_id: str, sender: str, recipients: list[str]
    ) -> None:
        self._aead = AESGCM(stream_key(content_key, envelope_id))
        self.envelope_id = envelope_id
        self.sender = sender
        self.recipients = sorted(recipients)
        self.count = 0
        self.total = 0
        self.root = chain_start(envelope_id)
        self.finished = False

    def open(self, record: bytes, *, max_bytes: int = 1024 * 1024) -> bytes:
        """Check and decrypt the next part record; return its plaintext."""
        part = Part.from_bytes(record, max_bytes=max_bytes)
        if self.finished:
            raise PartMismatchError("part rejected", detail="a part after the final one")
        if (part.envelope_id, part.sender, part.recipients, part.index) != (
            self.envelope_id,
            self.sender,
            self.recipients,
            self.count,
        ):
            raise PartMismatchError(
                "part rejected",
                detail=f"part {part.index} of {part.envelope_id} from {part.sender} is not part "
                f"{self.count} of {self.envelope_id} from {self.sender} to these recipients",
            )
        aad = part_aad(
            envelope_id=part.envelope_id, sender=part.sender, index=part.index, final=part.final
        )
        try:
            plain = self._aead.decrypt(part_nonce(part.index, part.final), part.ciphertext, aad)
        except InvalidTag:
            raise PartMismatchError(
                "part rejected", detail=f"part {part.index} does not decrypt"
            ) from None
        if not part.final and len(plain) != PART_SIZE:
            raise PartMismatchError("part rejected", detail=f"part {part.index}: short non-final")
        self.count += 1
        self.total += len(plain)
        self.finished = part.final
        self.root = chain_next(self.root, bytes(record))
        return plain
