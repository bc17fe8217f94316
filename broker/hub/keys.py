"""What the hub indexes a dossier under: its keys, each with the value shown to holders.

A key is a normalized selector (:func:`broker.models.normalize_selector`: a phone number,
an e-mail address, a document number, a device identifier) or ``sha256:<hex>`` for a
media file; PDQ perceptual hashes are keyed by their cluster (:mod:`broker.hub.pdq`).

Example::

    >>> hamming("ff" * 32, "fe" + "ff" * 31)
    1
"""

from __future__ import annotations

from broker.models import Dossier, normalize_selector

__all__ = ["dossier_keys", "hamming"]


def hamming(a: str, b: str) -> int:
    """Return the Hamming distance between two equal-length hex strings."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def dossier_keys(dossier: Dossier) -> list[tuple[str, str]]:
    """Return ``(key, shown value)`` for every selector and media hash of a dossier."""
    out: list[tuple[str, str]] = []
    for person in dossier.persons:
        for sel in person.selectors:
            out.append((normalize_selector(sel.type, sel.value, sel.platform), sel.value))
        for doc in person.documents:
            out.append((normalize_selector("DOCUMENT_NUMBER", doc.number), doc.number))
    for group in dossier.groups:
        for sel in group.selectors:
            out.append((normalize_selector(sel.type, sel.value, sel.platform), sel.value))
    for device in dossier.devices:
        for sel in device.identifiers:
            out.append((normalize_selector(sel.type, sel.value, sel.platform), sel.value))
    for media in dossier.media:
        out.append((f"sha256:{media.sha256}", media.sha256))
    return out
