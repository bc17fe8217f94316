"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-note form.

A checkpoint commits a log to its tree at one size (c2sp.org/tlog-checkpoint)::

    <origin>\\n<size>\\n<base64 root>\\n[<extension line>\\n ...]

A signed note (c2sp.org/signed-note) is that text, a blank line, and one or more
lines ``— <key name> <base64(4-byte key ID || signature)>\\n`` (em dash U+2014).
Three signature types are implemented, each with its own key ID byte:

* ``0x01`` Ed25519 note signatures over the text (:class:`NoteSigner`), as the
  log signs its own checkpoints; key strings are Go's ``golang.org/x/mod/sumdb/note``
  format, ``<name>+<hex key ID>+<base64(0x01 || public key)>``.
* ``0x04`` timestamped Ed25519 witness cosignatures, ``cosignature/v1`` of
  c2sp.org/tlog-cosignature (:class:`CosignatureSigner`): other agencies witness
  our checkpoints by adding a line to the existing note (:func:`add_signatures`).
* ``0x06`` timestamped ML-DSA-44 cosignatures, ``subtree/v1`` of the same spec
  (:class:`MLDSACosignatureSigner`), which tlog-checkpoint recommends and which
  will still mean something once Ed25519 can be forged. They sign the origin,
  size and root but not extension lines.

:func:`open_note` follows signed-note's rules: unknown keys are ignored (never
trusted), a known key whose signature fails rejects the whole note, and at least
one known key must verify. It is stricter than Go in two ways: a note with two
lines from the same (name, key ID) is malformed, and so is one with non-canonical
base64. A witness must check consistency with what it saw before it cosigns;
nothing here does that for it.

Example::

    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> log = NoteSigner.from_private_key(name="audit.example/ES-PN",
    ...                                   private_key=Ed25519PrivateKey.generate())
    >>> witness = CosignatureSigner.from_private_key(name="witness.example/DE-BKA",
    ...                                              private_key=Ed25519PrivateKey.generate())
    >>> cp = Checkpoint(origin="audit.example/ES-PN", size=3, root=bytes(32))
    >>> note = sign_note(cp.to_note_body(), [log])
    >>> note = add_signatures(note, [witness.at(1_767_225_600)])
    >>> signed = open_checkpoint(note, log=log.verifier(), witnesses=[witness.verifier()],
    ...                          quorum=1)
    >>> signed.checkpoint == cp, [w.timestamp for w in signed.witnesses]
    (True, [1767225600])
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from broker.errors import AuditError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "ALG_MLDSA44_SUBTREE_V1",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CosignatureSigner",
    "CosignatureVerifier",
    "MLDSACosignatureSigner",
    "MLDSACosignatureVerifier",
    "NoteError",
    "NoteSignature",
    "NoteSignatureError",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "SignedCheckpoint",
    "Signer",
    "VerifiedSignature",
    "Verifier",
    "add_signatures",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_note",
    "verifier_from_key_string",
]

#: Signature type bytes (signed-note "Signature types"; tlog-cosignature).
ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
ALG_MLDSA44_SUBTREE_V1 = 0x06
#: signed-note: verifiers MUST accept at least 16 signatures; Go's limit is 100.
MAX_SIGNATURES = 100
#: Upper bound on a whole note (100 ML-DSA-44 cosignature lines fit comfortably).
MAX_NOTE_BYTES = 1 << 20

_DASH = "\u2014 "  # signed-note "Format": em dash, space
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)  # tlog-checkpoint: no leading zeroes
_MAX_TIMESTAMP = (1 << 63) - 1  # tlog-cosignature: MUST NOT exceed 2^63 - 1
_SUBTREE_LABEL = b"subtree/v1\n\x00"


class NoteError(AuditError):
    """A signed note or checkpoint is malformed."""

    reason = "bad-note"


class NoteSignatureError(NoteError):
    """A known key's signature fails, or too few trusted keys signed."""

    reason = "bad-note-signature"


def _malformed(detail: str) -> NoteError:
    return NoteError("malformed note", detail=detail)


def _b64decode(text: str, what: str) -> bytes:
    """Decode standard base64 (RFC 4648 section 4), refusing any non-canonical form."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _malformed(f"{what} is not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise _malformed(f"{what} is not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_text(text: str, what: str) -> None:
    # signed-note "Format": no ASCII control characters other than newline.
    if any(ch < " " and ch != "\n" for ch in text):
        raise _malformed(f"{what} contains a control character")


def _check_key_name(name: str) -> None:
    # signed-note "Format": non-empty, no Unicode spaces, no plus.
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise _malformed(f"bad key name {name!r}")
    _check_text(name, "key name")


def key_id(name: str, algorithm: int, public_key: bytes) -> bytes:
    """Return ``SHA-256(name || 0x0A || algorithm || public key)[:4]`` (signed-note)."""
    _check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public_key).digest()[:4]


# --- Checkpoint bodies -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A log's tree head: origin, size, RFC 6962 root and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # tlog-checkpoint "Note text": non-empty lines, an unsigned 64-bit size, a
        # SHA-256 root (the RFC 6962 tree our logs use).
        for line, what in [(self.origin, "origin")] + [(e, "extension") for e in self.extensions]:
            if not line or "\n" in line:
                raise _malformed(f"{what} line is empty or spans lines")
            _check_text(line, what)
        if not 0 <= self.size < 1 << 64:
            raise _malformed(f"tree size {self.size} out of range")
        if len(self.root) != 32:
            raise _malformed(f"root is {len(self.root)} bytes, not 32")

    def to_note_body(self) -> bytes:
        """Return the note text: origin, size, base64 root, extensions, each + newline."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        """Parse a note text; refuse anything :meth:`to_note_body` would not produce."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed("checkpoint is not UTF-8") from exc
        if not text.endswith("\n"):
            raise _malformed("checkpoint does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise _malformed("checkpoint has fewer than three lines")
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise _malformed(f"bad tree size line {size!r}")
        return cls(
            origin=origin,
            size=int(size),
            root=_b64decode(root, "root"),
            extensions=tuple(extensions),
        )


# --- Keys --------------------------------------------------------------------------------


class Signer(Protocol):
    """Anything that can add one signature line to a note."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    def sign(self, text: bytes) -> bytes:
        """Return the signature bytes that follow the key ID in the line."""
        ...


class Verifier(Protocol):
    """A trusted key, as configured: matches lines by (name, key ID)."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    @property
    def algorithm(self) -> int: ...
    @property
    def public_key(self) -> bytes: ...
    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Return the signed timestamp (None if untimed); raise on a bad signature."""
        ...

    def verifier_key_string(self) -> str:
        """Return ``<name>+<hex key ID>+<base64(type || public key)>``."""
        ...


def _key_string(name: str, key: bytes, algorithm: int, ident: bytes) -> str:
    return f"{name}+{ident.hex()}+{_b64(bytes([algorithm]) + key)}"


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
            raise _malformed("Ed25519 public key is not 32 bytes")
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
            raise _malformed("Ed25519 public key is not 32 bytes")
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
        raise _malformed("cosigner name or origin longer than 255 bytes")
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
            raise _malformed("ML-DSA-44 public key is not 1312 bytes")
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


def verifier_from_key_string(vkey: str) -> Verifier:
    """Parse ``<name>+<hex key ID>+<base64(type || key)>`` into the verifier for its type."""
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1], re.ASCII):
        raise _malformed("bad verifier key string")
    name, ident, raw = parts[0], bytes.fromhex(parts[1]), _b64decode(parts[2], "verifier key")
    kinds: dict[int, type[NoteVerifier | CosignatureVerifier | MLDSACosignatureVerifier]] = {
        ALG_ED25519: NoteVerifier,
        ALG_COSIGNATURE_V1: CosignatureVerifier,
        ALG_MLDSA44_SUBTREE_V1: MLDSACosignatureVerifier,
    }
    if not raw or raw[0] not in kinds:
        raise _malformed("unknown signature type in verifier key")
    verifier = kinds[raw[0]](name=name, public_key=raw[1:])
    if verifier.key_id != ident:
        raise _malformed("key ID does not match the name and key")
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

    def verifier(self) -> Verifier:
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
            raise _malformed("bad signer key string")
        raw = _b64decode(parts[4], "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise _malformed("signer key is not an Ed25519 note key")
        signer = cls(name=parts[2], private_key=Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != parts[3]:
            raise _malformed("key ID does not match the name and key")
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


# --- Notes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteSignature:
    """One parsed signature line."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """Return the line, newline included."""
        return f"{_DASH}{self.name} {_b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedSignature:
    """A signature line that verified under a configured key."""

    verifier: Verifier
    timestamp: int | None

    @property
    def name(self) -> str:
        """Return the signer's key name."""
        return self.verifier.name


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenedNote:
    """A verified note: its text, who signed it, and the lines from unknown keys."""

    text: bytes
    verified: tuple[VerifiedSignature, ...]
    unknown: tuple[NoteSignature, ...]


def _check_note_text(text: bytes) -> str:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed("note text is not UTF-8") from exc
    _check_text(decoded, "note text")
    if not decoded.endswith("\n"):
        raise _malformed("note text does not end with a newline")
    return decoded


def _parse(note: bytes) -> tuple[bytes, list[NoteSignature]]:
    """Split a note into its text and signature lines (signed-note "Format")."""
    if len(note) > MAX_NOTE_BYTES:
        raise _malformed(f"note larger than {MAX_NOTE_BYTES} bytes")
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed("note is not UTF-8") from exc
    _check_text(decoded, "note")
    # The text ends at the *last* blank line; it may contain blank lines itself.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line before the signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise _malformed("signature block does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"more than {MAX_SIGNATURES} signatures")
    signatures: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        if not line.startswith(_DASH):
            raise _malformed("signature line does not start with an em dash and a space")
        name, sep, encoded = line[len(_DASH) :].partition(" ")
        _check_key_name(name)
        if not sep or " " in encoded:
            raise _malformed("signature line is not '— <name> <base64>'")
        raw = _b64decode(encoded, "signature")
        if len(raw) < 5:
            raise _malformed("signature shorter than key ID + 1 byte")
        sig = NoteSignature(name=name, key_id=raw[:4], signature=raw[4:])
        if (name, sig.key_id) in seen:
            raise _malformed(f"two signatures from key {name}+{sig.key_id.hex()}")
        seen.add((name, sig.key_id))
        signatures.append(sig)
    return text.encode(), signatures


def sign_note(text: bytes, signers: Sequence[Signer]) -> bytes:
    """Return ``text`` signed by every signer, one line each, in order."""
    _check_note_text(text)
    if not signers:
        raise ValueError("a note needs at least one signature")
    return text + b"\n" + _lines(text, signers, existing=[])


def add_signatures(note: bytes, signers: Sequence[Signer]) -> bytes:
    """Return ``note`` with a line from each signer added (witnessing); same keys are replaced.

    This parses but does not verify the existing lines: open the note first.
    """
    text, existing = _parse(note)
    mine = {(s.name, s.key_id) for s in signers}
    kept = [s for s in existing if (s.name, s.key_id) not in mine]
    return text + b"\n" + _lines(text, signers, existing=kept)


def _lines(text: bytes, signers: Sequence[Signer], *, existing: list[NoteSignature]) -> bytes:
    new = [NoteSignature(name=s.name, key_id=s.key_id, signature=s.sign(text)) for s in signers]
    every = [*existing, *new]
    if len({(s.name, s.key_id) for s in every}) != len(every):
        raise ValueError("two signers share a key name and key ID")
    if len(every) > MAX_SIGNATURES:
        raise ValueError(f"more than {MAX_SIGNATURES} signatures")
    return "".join(s.line() for s in every).encode()


def open_note(note: bytes, verifiers: Iterable[Verifier], *, required: int = 1) -> OpenedNote:
    """Verify a signed note against trusted keys; return its text and who signed it.

    Lines from unknown keys (name or key ID unknown) are ignored; a known key whose
    signature fails rejects the note; fewer than ``required`` distinct known keys
    verifying rejects it (signed-note "Signatures").
    """
    if required < 1:
        raise ValueError("at least one trusted signature is required")
    by_id: dict[tuple[str, bytes], Verifier] = {}
    ambiguous: set[tuple[str, bytes]] = set()
    for v in verifiers:
        k = (v.name, v.key_id)
        if k in by_id and (by_id[k].algorithm, by_id[k].public_key) != (v.algorithm, v.public_key):
            ambiguous.add(k)
        by_id.setdefault(k, v)
    text, signatures = _parse(note)
    verified: list[VerifiedSignature] = []
    unknown: list[NoteSignature] = []
    for sig in signatures:
        k = (sig.name, sig.key_id)
        if k in ambiguous:
            raise NoteSignatureError("signature does not verify", detail=f"ambiguous key {k}")
        verifier = by_id.get(k)
        if verifier is None:
            unknown.append(sig)
            continue
        try:
            timestamp = verifier.verify(text, sig.signature)
        except NoteSignatureError as exc:
            exc.detail = f"key {sig.name}+{sig.key_id.hex()}: {exc.detail or 'invalid'}"
            raise
        verified.append(VerifiedSignature(verifier=verifier, timestamp=timestamp))
    if len(verified) < required:
        raise NoteSignatureError(
            "note is not signed by enough trusted keys",
            detail=f"{len(verified)} verified, {required} required",
        )
    return OpenedNote(text=text, verified=tuple(verified), unknown=tuple(unknown))


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the witnesses that cosigned it."""

    checkpoint: Checkpoint
    note: OpenedNote
    witnesses: tuple[VerifiedSignature, ...]


def open_checkpoint(
    note: bytes,
    *,
    log: Verifier,
    witnesses: Sequence[Verifier] = (),
    quorum: int = 0,
    origin: str | None = None,
) -> SignedCheckpoint:
    """Open a checkpoint note: the log must sign, ``quorum`` witnesses must cosign.

    ``origin`` defaults to the log's key name (tlog-checkpoint: it SHOULD match).
    """
    opened = open_note(note, [log, *witnesses])
    log_key = (log.name, log.key_id)
    cosigned = tuple(s for s in opened.verified if (s.name, s.verifier.key_id) != log_key)
    if len(cosigned) == len(opened.verified):
        raise NoteSignatureError("checkpoint is not signed by the log", detail=log.name)
    if len(cosigned) < quorum:
        raise NoteSignatureError(
            "checkpoint lacks a witness quorum", detail=f"{len(cosigned)} of {quorum}"
        )
    checkpoint = Checkpoint.parse(opened.text)
    expected = log.name if origin is None else origin
    if checkpoint.origin != expected:
        raise NoteError("checkpoint is for another log", detail=f"origin {checkpoint.origin!r}")
    return SignedCheckpoint(checkpoint=checkpoint, note=opened, witnesses=cosigned)
