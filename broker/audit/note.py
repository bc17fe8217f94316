"""C2SP signed notes (c2sp.org/signed-note): text, a blank line, signature lines.

A signed note is a UTF-8 text ending in a newline, a blank line, and one or more
lines ``— <key name> <base64(4-byte key ID || signature)>\\n`` (em dash U+2014).
This module is the note format only: parsing and writing signature lines, the key
ID of a (name, type, public key), and :func:`open_note`'s verification rules.
The key types live in :mod:`broker.audit.signers`, the checkpoint body that logs
sign in :mod:`broker.audit.checkpoint`.

:func:`open_note` follows signed-note's rules: unknown keys are ignored (never
trusted), a known key whose signature fails rejects the whole note, and at least
one known key must verify. It is stricter than Go in two ways: a note with two
lines from the same (name, key ID) is malformed, and so is one with non-canonical
base64.

Example::

    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from broker.audit.signers import NoteSigner
    >>> signer = NoteSigner.from_private_key(name="audit.example/ES-PN",
    ...                                      private_key=Ed25519PrivateKey.generate())
    >>> note = sign_note(b"hello\\n", [signer])
    >>> open_note(note, [signer.verifier()]).text
    b'hello\\n'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from broker.errors import NoteError, NoteSignatureError

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "NoteKeySigner",
    "NoteKeyVerifier",
    "NoteSignature",
    "OpenedNote",
    "VerifiedSignature",
    "add_signatures",
    "key_id",
    "open_note",
    "sign_note",
]

#: signed-note: verifiers MUST accept at least 16 signatures; Go's limit is 100.
MAX_SIGNATURES = 100
#: Upper bound on a whole note (100 ML-DSA-44 cosignature lines fit comfortably).
MAX_NOTE_BYTES = 1 << 20

_DASH = "\u2014 "  # signed-note "Format": em dash, space


def malformed(detail: str) -> NoteError:
    return NoteError("malformed note", detail=detail)


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard base64 (RFC 4648 section 4), refusing any non-canonical form."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise malformed(f"{what} is not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise malformed(f"{what} is not canonical base64")
    return raw


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def check_text(text: str, what: str) -> None:
    # signed-note "Format": no ASCII control characters other than newline.
    if any(ch < " " and ch != "\n" for ch in text):
        raise malformed(f"{what} contains a control character")


def check_key_name(name: str) -> None:
    # signed-note "Format": non-empty, no Unicode spaces, no plus.
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise malformed(f"bad key name {name!r}")
    check_text(name, "key name")


def key_id(name: str, algorithm: int, public_key: bytes) -> bytes:
    """Return ``SHA-256(name || 0x0A || algorithm || public key)[:4]`` (signed-note)."""
    check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public_key).digest()[:4]


class NoteKeySigner(Protocol):
    """Anything that can add one signature line to a note."""

    @property
    def name(self) -> str: ...
    @property
    def key_id(self) -> bytes: ...
    def sign(self, text: bytes) -> bytes:
        """Return the signature bytes that follow the key ID in the line."""
        ...


class NoteKeyVerifier(Protocol):
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


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteSignature:
    """One parsed signature line."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """Return the line, newline included."""
        return f"{_DASH}{self.name} {b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedSignature:
    """A signature line that verified under a configured key."""

    verifier: NoteKeyVerifier
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
        raise malformed("note text is not UTF-8") from exc
    check_text(decoded, "note text")
    if not decoded.endswith("\n"):
        raise malformed("note text does not end with a newline")
    return decoded


def _parse(note: bytes) -> tuple[bytes, list[NoteSignature]]:
    """Split a note into its text and signature lines (signed-note "Format")."""
    if len(note) > MAX_NOTE_BYTES:
        raise malformed(f"note larger than {MAX_NOTE_BYTES} bytes")
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise malformed("note is not UTF-8") from exc
    check_text(decoded, "note")
    # The text ends at the *last* blank line; it may contain blank lines itself.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise malformed("no blank line before the signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise malformed("signature block does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise malformed(f"more than {MAX_SIGNATURES} signatures")
    signatures: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        if not line.startswith(_DASH):
            raise malformed("signature line does not start with an em dash and a space")
        name, sep, encoded = line[len(_DASH) :].partition(" ")
        check_key_name(name)
        if not sep or " " in encoded:
            raise malformed("signature line is not '— <name> <base64>'")
        raw = b64decode_strict(encoded, "signature")
        if len(raw) < 5:
            raise malformed("signature shorter than key ID + 1 byte")
        sig = NoteSignature(name=name, key_id=raw[:4], signature=raw[4:])
        if (name, sig.key_id) in seen:
            raise malformed(f"two signatures from key {name}+{sig.key_id.hex()}")
        seen.add((name, sig.key_id))
        signatures.append(sig)
    return text.encode(), signatures


def sign_note(text: bytes, signers: Sequence[NoteKeySigner]) -> bytes:
    """Return ``text`` signed by every signer, one line each, in order."""
    _check_note_text(text)
    if not signers:
        raise ValueError("a note needs at least one signature")
    return text + b"\n" + _lines(text, signers, existing=[])


def add_signatures(note: bytes, signers: Sequence[NoteKeySigner]) -> bytes:
    """Return ``note`` with a line from each signer added (witnessing); same keys are replaced.

    This parses but does not verify the existing lines: open the note first.
    """
    text, existing = _parse(note)
    mine = {(s.name, s.key_id) for s in signers}
    kept = [s for s in existing if (s.name, s.key_id) not in mine]
    return text + b"\n" + _lines(text, signers, existing=kept)


def _lines(
    text: bytes, signers: Sequence[NoteKeySigner], *, existing: list[NoteSignature]
) -> bytes:
    new = [NoteSignature(name=s.name, key_id=s.key_id, signature=s.sign(text)) for s in signers]
    every = [*existing, *new]
    if len({(s.name, s.key_id) for s in every}) != len(every):
        raise ValueError("two signers share a key name and key ID")
    if len(every) > MAX_SIGNATURES:
        raise ValueError(f"more than {MAX_SIGNATURES} signatures")
    return "".join(s.line() for s in every).encode()


def open_note(
    note: bytes, verifiers: Iterable[NoteKeyVerifier], *, required: int = 1
) -> OpenedNote:
    """Verify a signed note against trusted keys; return its text and who signed it.

    Lines from unknown keys (name or key ID unknown) are ignored; a known key whose
    signature fails rejects the note; fewer than ``required`` distinct known keys
    verifying rejects it (signed-note "Signatures").
    """
    if required < 1:
        raise ValueError("at least one trusted signature is required")
    by_id: dict[tuple[str, bytes], NoteKeyVerifier] = {}
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
