"""Checkpoints: C2SP tlog-checkpoint bodies, opened from a signed note.

A checkpoint commits a log to its tree at one size (c2sp.org/tlog-checkpoint)::

    <origin>\\n<size>\\n<base64 root>\\n[<extension line>\\n ...]

It travels as the text of a signed note (:mod:`broker.audit.note`), signed by the
log's key and cosigned by witnesses (:mod:`broker.audit.signers`).
:func:`open_checkpoint` requires the log's signature and a witness quorum. A
witness must check consistency with what it saw before it cosigns; nothing here
does that for it.

Example::

    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from broker.audit.note import add_signatures, sign_note
    >>> from broker.audit.signers import CosignatureSigner, NoteSigner
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

import re
from collections.abc import Sequence
from dataclasses import dataclass

from broker.audit.note import (
    NoteKeyVerifier,
    OpenedNote,
    VerifiedSignature,
    b64,
    b64decode_strict,
    check_text,
    malformed,
    open_note,
)
from broker.errors import NoteError, NoteSignatureError

__all__ = [
    "REPUBLISH_SECONDS",
    "TIME_EXTENSION",
    "Checkpoint",
    "SignedCheckpoint",
    "open_checkpoint",
]

#: Extension line carrying the signing time: ``time <unix seconds>`` (decimal, no sign).
TIME_EXTENSION = "time "
#: Writers re-sign and re-publish their newest checkpoint this often (seconds) while they run,
#: so that the newest signed time shows how fresh a stream is.
REPUBLISH_SECONDS = 60.0

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)  # tlog-checkpoint: no leading zeroes


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
                raise malformed(f"{what} line is empty or spans lines")
            check_text(line, what)
        if not 0 <= self.size < 1 << 64:
            raise malformed(f"tree size {self.size} out of range")
        if len(self.root) != 32:
            raise malformed(f"root is {len(self.root)} bytes, not 32")
        _ = self.time  # a malformed time extension is a malformed checkpoint

    @property
    def time(self) -> int | None:
        """The signed ``time <unix seconds>`` extension, if the note has one (the first)."""
        for line in self.extensions:
            if line.startswith(TIME_EXTENSION):
                value = line.removeprefix(TIME_EXTENSION)
                if not _SIZE.fullmatch(value):
                    raise malformed(f"bad time extension {line!r}")
                return int(value)
        return None

    def to_note_body(self) -> bytes:
        """Return the note text: origin, size, base64 root, extensions, each + newline."""
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        """Parse a note text; refuse anything :meth:`to_note_body` would not produce."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise malformed("checkpoint is not UTF-8") from exc
        if not text.endswith("\n"):
            raise malformed("checkpoint does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise malformed("checkpoint has fewer than three lines")
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise malformed(f"bad tree size line {size!r}")
        return cls(
            origin=origin,
            size=int(size),
            root=b64decode_strict(root, "root"),
            extensions=tuple(extensions),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the witnesses that cosigned it."""

    checkpoint: Checkpoint
    note: OpenedNote
    witnesses: tuple[VerifiedSignature, ...]


def open_checkpoint(
    note: bytes,
    *,
    log: NoteKeyVerifier,
    witnesses: Sequence[NoteKeyVerifier] = (),
    quorum: int = 0,
    origin: str | None = None,
) -> SignedCheckpoint:
    """Open a checkpoint note: the log must sign, ``quorum`` witnesses must cosign.

    A witness key with the log's own public key is ignored: a log cannot witness itself.

    ``origin`` defaults to the log's key name (tlog-checkpoint: it SHOULD match).
    """
    # The log's own key never witnesses itself, under whatever name it is configured.
    others = [w for w in witnesses if w.public_key != log.public_key]
    opened = open_note(note, [log, *others])
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
