"""A streamed dossier handed to the handler: complete, verified, read as a stream.

:class:`StreamedDossier` is a :class:`~broker.models.Dossier` (the small part: what
the manifest carries inline) whose streamed media references and attachments are
read back from the agency's stream store on demand (:meth:`~StreamedDossier.media_stream`,
:meth:`~StreamedDossier.attachment_streams`), one part in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pydantic

from broker.envelope import OpenedEnvelope
from broker.models import Dossier, MediaReference
from broker.models.streamed import Manifest, MediaItemReader, Section

__all__ = ["Sections", "StreamedDossier"]


class Sections(Protocol):
    """What reads a verified dossier's sections back (the stream store)."""

    def sections(
        self, opened: OpenedEnvelope, manifest: Manifest
    ) -> Iterator[tuple[Section, Iterator[bytes]]]: ...


class StreamedDossier(Dossier):
    """A complete, verified streamed dossier: the small part (this model's fields, with
    ``media`` and ``attachments`` as they were sent inline) and the streamed sections.

    :meth:`media_stream` yields the streamed references; :meth:`attachment_streams` the
    attachments' bytes. Both read the stored parts again, one part at a time, and only
    while the handler runs: once it returns and the delivery is committed handled, the
    parts are deleted (:meth:`broker.agency.reassembly.Reassembly.release`).
    """

    _manifest: Manifest = pydantic.PrivateAttr()
    _read: Sections = pydantic.PrivateAttr()
    _opened: OpenedEnvelope = pydantic.PrivateAttr()

    @classmethod
    def of(
        cls, small: Dossier, *, manifest: Manifest, read: Sections, opened: OpenedEnvelope
    ) -> StreamedDossier:
        """Wrap the small part of a verified dossier."""
        out = cls.model_validate(small.model_dump())
        out._manifest, out._read, out._opened = manifest, read, opened
        return out

    @property
    def manifest(self) -> Manifest:
        """The signed manifest."""
        return self._manifest

    @property
    def media_count(self) -> int:
        """How many references the streamed MEDIA sections hold."""
        return sum(s.items for s in self._manifest.sections if s.kind == "MEDIA")

    @property
    def part_count(self) -> int:
        """How many parts carried the stream."""
        return self._manifest.part_count

    def media_stream(self) -> Iterator[MediaReference]:
        """Yield every streamed media reference (each was validated when the dossier was
        verified; the parts' AEAD and chain root prove these are the same bytes)."""
        for section, chunks in self._read.sections(self._opened, self._manifest):
            reader = MediaItemReader(validated=True)
            for chunk in chunks:
                if section.kind == "MEDIA":
                    yield from reader.feed(chunk)

    def attachment_streams(self) -> Iterator[tuple[Section, Iterator[bytes]]]:
        """Yield each streamed attachment's section and an iterator of its bytes.

        Consume each chunk iterator before moving to the next attachment.
        """
        for section, chunks in self._read.sections(self._opened, self._manifest):
            if section.kind == "ATTACHMENT":
                yield section, chunks
