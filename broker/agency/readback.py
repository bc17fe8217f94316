"""Reading a streamed dossier's sections back from its stored part records, checked.

:func:`read_sections` decrypts the part records of one dossier in index order
(:class:`~broker.envelope.stream.PartOpener`: index, AEAD, size of every part) and
cuts the plaintext into the manifest's sections; at the end it checks the count,
the final flag, the total size and the chain root against the signed manifest. It
holds one part of plaintext at a time. Used by
:class:`~broker.agency.reassembly.Reassembly` both for the verifying pass and for
the handler's reads (:class:`~broker.agency.streamed.StreamedDossier`).

Example::

    for section, chunks in read_sections(records, opened, manifest, max_record_bytes=n):
        for chunk in chunks:
            ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from broker.envelope import OpenedEnvelope
from broker.envelope.stream import PartOpener
from broker.errors import PartMismatchError
from broker.models.streamed import Manifest, Section

__all__ = ["read_sections"]


def read_sections(
    records: Iterable[bytes], opened: OpenedEnvelope, manifest: Manifest, *, max_record_bytes: int
) -> Iterator[tuple[Section, Iterator[bytes]]]:
    """Yield each section with an iterator of its plaintext, decrypting ``records`` in order.

    Each section's iterator must be consumed (or abandoned) before the next section
    is taken; what a caller leaves unread is read (and checked) anyway.
    """
    header = opened.header
    if opened.content_key is None:
        raise PartMismatchError("dossier rejected", detail="no content key")
    opener = PartOpener(
        content_key=opened.content_key,
        envelope_id=header.envelope_id,
        sender=header.sender,
        recipients=header.recipient_agencies,
    )
    plain = _plaintext(opener, records, max_record_bytes)
    buffer = b""
    for section in manifest.sections:

        def chunks(section: Section = section) -> Iterator[bytes]:
            nonlocal buffer
            left = section.bytes
            while left:
                if not buffer:
                    buffer = next(plain, b"")
                    if not buffer:
                        raise PartMismatchError("dossier rejected", detail="stream too short")
                take, buffer = buffer[:left], buffer[left:]
                left -= len(take)
                yield take

        it = chunks()
        yield section, it
        for _ in it:  # whatever the caller left unread
            pass
    if buffer or next(plain, b""):
        raise PartMismatchError("dossier rejected", detail="stream longer than its sections")
    if (
        opener.count != manifest.part_count
        or not opener.finished
        or opener.total != manifest.total_bytes
        or opener.root != manifest.root
    ):
        raise PartMismatchError(
            "dossier rejected", detail="part count, final flag, size or chain root differ"
        )


def _plaintext(opener: PartOpener, records: Iterable[bytes], max_bytes: int) -> Iterator[bytes]:
    for record in records:
        yield opener.open(record, max_bytes=max_bytes)
    if not opener.finished:
        raise PartMismatchError("dossier rejected", detail="no final part")
