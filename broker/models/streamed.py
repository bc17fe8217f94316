"""What a streamed dossier's plaintext and manifest hold (the cryptography is in
:mod:`broker.envelope.stream`).

The plaintext stream is the concatenation of the manifest's sections, in order:

* ``MEDIA``: ``items`` references, each ``u32(len) || single-object eu.fed.MediaReference``
  (big-endian length);
* ``ATTACHMENT``: the attachment's ``bytes`` raw bytes.

The manifest (``eu.fed.DossierManifest``) carries the small part of the dossier
(single-object ``eu.fed.Dossier``: everything but the streamed sections), the
sections, the part count and size, the total and the part chain root.

Example::

    >>> from broker.models import MediaReference
    >>> ref = MediaReference(sha256="0" * 64, category="UNCLASSIFIED")
    >>> reader = MediaItemReader()
    >>> [r.sha256[:4] for r in reader.feed(encode_media_item(ref) * 2)]
    ['0000', '0000']
    >>> reader.pending
    0
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydantic

from broker.codec import SchemaStore
from broker.errors import SchemaError, ValidationError
from broker.models.dossier import Dossier, MediaReference

__all__ = ["MANIFEST_SCHEMA", "Manifest", "MediaItemReader", "Section", "encode_media_item"]

MANIFEST_SCHEMA = "eu.fed.DossierManifest"
_MEDIA = "eu.fed.MediaReference"
#: The largest single media item accepted (a reference is a few hundred bytes).
MAX_ITEM = 64 * 1024


def encode_media_item(ref: MediaReference) -> bytes:
    """Return one MEDIA item: u32 length, then the single-object MediaReference."""
    body = SchemaStore.default().encode(_MEDIA, ref.model_dump())
    return struct.pack(">I", len(body)) + body


class MediaItemReader:
    """Parse MEDIA items out of plaintext chunks as they are decrypted (bounded buffer).

    ``validated=True`` reads items already validated once from the very same
    authenticated bytes (a verified dossier read again): they are decoded, not
    validated again (pydantic validation is about a third of the cost of an item).
    """

    def __init__(self, *, validated: bool = False) -> None:
        self._buffer = bytearray()
        self._validated = validated
        self.count = 0

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a whole item."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> Iterator[MediaReference]:
        """Add plaintext; yield every reference it completed, validated."""
        self._buffer += chunk
        store = SchemaStore.default()
        offset = 0
        while len(self._buffer) - offset >= 4:
            (length,) = struct.unpack_from(">I", self._buffer, offset)
            if length > MAX_ITEM:
                raise ValidationError(
                    "media item too large", problems=[(f"media[{self.count}]", "too-large")]
                )
            if len(self._buffer) - offset - 4 < length:
                break
            body = bytes(self._buffer[offset + 4 : offset + 4 + length])
            offset += 4 + length
            try:
                rec = store.decode(_MEDIA, body)
                if self._validated:
                    ref = MediaReference.model_construct(**rec)
                else:
                    ref = MediaReference.model_validate(rec)
            except (SchemaError, pydantic.ValidationError) as exc:
                kind = exc.reason if isinstance(exc, SchemaError) else "invalid"
                raise ValidationError(
                    "media item invalid", problems=[(f"media[{self.count}]", kind)]
                ) from None
            self.count += 1
            yield ref
        del self._buffer[:offset]


@dataclass(frozen=True, kw_only=True)
class Section:
    """One streamed section: ``MEDIA`` (references) or ``ATTACHMENT`` (raw bytes)."""

    kind: str
    name: str
    media_type: str
    items: int
    bytes: int


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The decoded ``eu.fed.DossierManifest``."""

    dossier: bytes
    sections: list[Section]
    part_count: int
    part_size: int
    total_bytes: int
    root: bytes

    def to_bytes(self) -> bytes:
        """Return the single-object encoding (the manifest envelope's payload)."""
        rec: dict[str, Any] = {
            "dossier": self.dossier,
            "sections": [s.__dict__ for s in self.sections],
            "part_count": self.part_count,
            "part_size": self.part_size,
            "total_bytes": self.total_bytes,
            "root": self.root,
        }
        return SchemaStore.default().encode(MANIFEST_SCHEMA, rec)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Decode a manifest (a SchemaError if it does not decode)."""
        rec = SchemaStore.default().decode(MANIFEST_SCHEMA, data)
        return cls(
            dossier=rec["dossier"],
            sections=[Section(**s) for s in rec["sections"]],
            part_count=rec["part_count"],
            part_size=rec["part_size"],
            total_bytes=rec["total_bytes"],
            root=rec["root"],
        )

    def small_dossier(self) -> Dossier:
        """Return the dossier without its streamed sections, validated."""
        return Dossier.from_bytes(self.dossier)

    @staticmethod
    def fingerprint() -> bytes:
        """The payload fingerprint of a manifest envelope's header."""
        return SchemaStore.default().fingerprint(MANIFEST_SCHEMA)
