"""Note key types: Ed25519 note signatures and timestamped witness cosignatures.

Three signature types are implemented, each with its own key ID byte:

* ``0x01`` Ed25519 note signatures over the text (:class:`NoteSigner`), as the
  log signs its own checkpoints; key strings are Go's ``golang.org/x/mod/sumdb/note``
  format, ``<name>+<hex key ID>+<base64(0x01 || public key)>``.
* ``0x04`` timestamped Ed25519 witness cosignatures, ``cosignature/v1`` of
  c2sp.org/tlog-cosignature (:class:`CosignatureSigner`): other agencies witness
  our checkpoints by adding a line to the existing note
  (:func:`broker.audit.note.add_signatures`).
* ``0x06`` timestamped ML-DSA-44 cosignatures, ``subtree/v1`` of the same spec
  (:class:`MLDSACosignatureSigner`), which tlog-checkpoint recommends and which
  will still mean something once Ed25519 can be forged. They sign the origin,
  size and root but not extension lines.

Example::

    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> signer = NoteSigner.from_private_key(name="audit.example/ES-PN",
    ...                                      private_key=Ed25519PrivateKey.generate())
    >>> vkey = signer.verifier_key_string()
    >>> verifier_from_key_string(vkey).key_id == signer.key_id
    True
"""

from __future__ import annotations

import copy
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from broker.audit.checkpoint import Checkpoint
from broker.audit.note import NoteKeyVerifier, b64, b64decode_strict, key_id, malformed
from broker.errors import NoteSignatureError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "ALG_MLDSA44_SUBTREE_V1",
    "CosignatureSigner",
    "CosignatureVerifier",
    "MLDSACosignatureSigner",
    "MLDSACosignatureVerifier",
    "NoteSigner",
    "NoteVerifier",
    "verifier_from_key_string",
]

#: Signature type bytes (signed-note "Signature types"; tlog-cosignature).
ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
ALG_MLDSA44_SUBTREE_V1 = 0x06

_MAX_TIMESTAMP = (1 << 63) - 1  # tlog-cosignature: MUST NOT exceed 2^63 - 1
_SUBTREE_LABEL = b"subtree/v1\n\x00"


def _key_string(name: str, key: bytes, algorithm: int, ident: bytes) -> str:
    return f"{name}+{ident.hex()}+{b64(bytes([algorithm]) + key)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Verifier:
    name: str
    algorithm: int
    public_key: bytes
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", key_id(self.name, self.algorithm, self.public_key))

    def verifier_key_string(self) -> str:
        """Return ``<name>+<hex key ID>+<base64(type || public key)>``."""
        return _key_string(self.name, self.public_key, self.algorithm, self.key_id)

    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Verify ``signature`` over ``text``; return its timestamp if it has one."""
        raise NotImplementedError


def _ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    if len(signature) != 64:
        raise NoteSignatureError("signature does not verify", detail="not 64 bytes")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature as exc:
        raise NoteSignatureError("signature does not verify") from exc


class NoteVerifier(_Verifier):
    """An Ed25519 note key (type 0x01): the signature covers the note text."""

    def __init__(self, *, name: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise malformed("Ed25519 public key is not 32 bytes")
        super().__init__(name=name, algorithm=ALG_ED25519, public_key=public_key)

    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Verify an Ed25519 signature over ``text``; untimed, so return None."""
        _ed25519_verify(self.public_key, signature, text)
        return None


def _cosignature_v1_message(text: bytes, timestamp: int) -> bytes:
    # tlog-cosignature "Ed25519 signed message": header line, time line, note text.
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def _split_timestamp(signature: bytes, length: int) -> tuple[int, bytes]:
    if len(signature) != 8 + length:
        raise NoteSignatureError("signature does not verify", detail="wrong cosignature size")
    (timestamp,) = struct.unpack(">Q", signature[:8])
    if timestamp > _MAX_TIMESTAMP:
        raise NoteSignatureError("signature does not verify", detail="timestamp >= 2^63")
    return timestamp, signature[8:]


class CosignatureVerifier(_Verifier):
    """An Ed25519 ``cosignature/v1`` witness key (type 0x04)."""

    def __init__(self, *, name: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise malformed("Ed25519 public key is not 32 bytes")
        super().__init__(name=name, algorithm=ALG_COSIGNATURE_V1, public_key=public_key)

    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Verify a timestamped cosignature over ``text``; return its timestamp."""
        timestamp, sig = _split_timestamp(signature, 64)
        _ed25519_verify(self.public_key, sig, _cosignature_v1_message(text, timestamp))
        return timestamp


def _subtree_v1_message(cosigner: str, text: bytes, timestamp: int) -> bytes:
    # tlog-cosignature "ML-DSA-44 signed message": the cosigned_message struct for a
    # checkpoint (start = 0, end = size), TLS presentation language (RFC 8446 3).
    cp = Checkpoint.parse(text)
    name, origin = cosigner.encode(), cp.origin.encode()
    if not 0 < len(name) < 256 or not 0 < len(origin) < 256:
        raise malformed("cosigner name or origin longer than 255 bytes")
    return b"".join(
        [
            _SUBTREE_LABEL,
            bytes([len(name)]) + name,
            struct.pack(">Q", timestamp),
            bytes([len(origin)]) + origin,
            struct.pack(">QQ", 0, cp.size),
            cp.root,
        ]
    )


class MLDSACosignatureVerifier(_Verifier):
    """An ML-DSA-44 ``subtree/v1`` witness key (type 0x06); signs origin, size and root."""

    def __init__(self, *, name: str, public_key: bytes) -> None:
        if len(public_key) != 1312:
            raise malformed("ML-DSA-44 public key is not 1312 bytes")
        super().__init__(name=name, algorithm=ALG_MLDSA44_SUBTREE_V1, public_key=public_key)

    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Verify a timestamped ML-DSA-44 cosignature of a checkpoint; return its timestamp."""
        timestamp, sig = _split_timestamp(signature, 2420)
        message = _subtree_v1_message(self.name, text, timestamp)
        try:
            MLDSA44PublicKey.from_public_bytes(self.public_key).verify(sig, message)
        except InvalidSignature as exc:
            raise NoteSignatureError("signature does not verify") from exc
        return timestamp


def verifier_from_key_string(vkey: str) -> NoteKeyVerifier:
    """Parse ``<name>+<hex key ID>+<base64(type || key)>`` into the verifier for its type."""
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1], re.ASCII):
        raise malformed("bad verifier key string")
    name, ident, raw = parts[0], bytes.fromhex(parts[1]), b64decode_strict(parts[2], "verifier key")
    kinds: dict[int, type[NoteVerifier | CosignatureVerifier | MLDSACosignatureVerifier]] = {
        ALG_ED25519: NoteVerifier,
        ALG_COSIGNATURE_V1: CosignatureVerifier,
        ALG_MLDSA44_SUBTREE_V1: MLDSACosignatureVerifier,
    }
    if not raw or raw[0] not in kinds:
        raise malformed("unknown signature type in verifier key")
    verifier = kinds[raw[0]](name=name, public_key=raw[1:])
    if verifier.key_id != ident:
        raise malformed("key ID does not match the name and key")
    return verifier


class _Signer:
    """A private key under a key name, and the verifier that matches it."""

    _verifier: _Verifier

    @property
    def name(self) -> str:
        """Return the key name that prefixes this key's signature lines."""
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        """Return the 4-byte key ID."""
        return self._verifier.key_id

    def verifier(self) -> NoteKeyVerifier:
        """Return the matching verifier."""
        return self._verifier

    def verifier_key_string(self) -> str:
        """Return the verifier key string to publish."""
        return self._verifier.verifier_key_string()


class NoteSigner(_Signer):
    """An Ed25519 note signing key (type 0x01)."""

    def __init__(self, *, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key().public_bytes_raw()
        self._verifier = NoteVerifier(name=name, public_key=public)

    @classmethod
    def from_private_key(cls, *, name: str, private_key: Ed25519PrivateKey) -> NoteSigner:
        """Return the signer for ``private_key`` under ``name``."""
        return cls(name=name, private_key=private_key)

    @classmethod
    def from_key_string(cls, skey: str) -> NoteSigner:
        """Parse Go's ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise malformed("bad signer key string")
        raw = b64decode_strict(parts[4], "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise malformed("signer key is not an Ed25519 note key")
        signer = cls(name=parts[2], private_key=Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != parts[3]:
            raise malformed("key ID does not match the name and key")
        return signer

    def sign(self, text: bytes) -> bytes:
        """Return the Ed25519 signature of the note text."""
        return self._key.sign(text)

    def cosigner(self, name: str) -> CosignatureSigner:
        """Return a ``cosignature/v1`` witness signer with the same key under ``name``.

        Safe to share: cosignature/v1 messages begin ``cosignature/v1\n`` and so can
        never equal a note text, which begins with its origin line.
        """
        return CosignatureSigner.from_private_key(name=name, private_key=self._key)


class _TimestampedSigner(_Signer):
    """A witness key: signs the current POSIX time unless pinned with :meth:`at`."""

    _timestamp: int | None = None

    def at(self, timestamp: int) -> Self:
        """Return a copy that signs with a fixed POSIX ``timestamp``."""
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise ValueError("timestamp out of range")
        pinned = copy.copy(self)
        pinned._timestamp = timestamp
        return pinned

    def _now(self) -> int:
        return int(time.time()) if self._timestamp is None else self._timestamp


class CosignatureSigner(_TimestampedSigner):
    """An Ed25519 ``cosignature/v1`` witness key (type 0x04).

    The message does not commit to the witness name: one key, one witness name.
    """

    def __init__(self, *, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key().public_bytes_raw()
        self._verifier = CosignatureVerifier(name=name, public_key=public)

    @classmethod
    def from_private_key(cls, *, name: str, private_key: Ed25519PrivateKey) -> CosignatureSigner:
        """Return the cosigner for ``private_key`` under ``name``."""
        return cls(name=name, private_key=private_key)

    def sign(self, text: bytes) -> bytes:
        """Return ``u64 timestamp || Ed25519 signature`` over the cosigned message."""
        ts = self._now()
        return struct.pack(">Q", ts) + self._key.sign(_cosignature_v1_message(text, ts))


class MLDSACosignatureSigner(_TimestampedSigner):
    """An ML-DSA-44 ``subtree/v1`` witness key (type 0x06) for checkpoints."""

    def __init__(self, *, name: str, private_key: MLDSA44PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key().public_bytes_raw()
        self._verifier = MLDSACosignatureVerifier(name=name, public_key=public)

    @classmethod
    def from_private_key(
        cls, *, name: str, private_key: MLDSA44PrivateKey
    ) -> MLDSACosignatureSigner:
        """Return the cosigner for ``private_key`` under ``name``."""
        return cls(name=name, private_key=private_key)

    def sign(self, text: bytes) -> bytes:
        """Return ``u64 timestamp || ML-DSA-44 signature`` over the cosigned message."""
        ts = self._now()
        return struct.pack(">Q", ts) + self._key.sign(_subtree_v1_message(self.name, text, ts))
