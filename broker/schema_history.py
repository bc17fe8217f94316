"""Schema history: every published version of each top-level schema is kept forever.

Readers resolve an old writer schema by its fingerprint (``broker/codec.py`` loads
``schemas/published/<full name>/<fingerprint hex>.avsc``), so data written years
ago still decodes. ``broker schema publish`` records the current versions; the
test suite fails if a current schema is unpublished or cannot read every
published version (a backward-incompatible change).

Example::

    >>> "eu.fed.Dossier" in TOP_LEVEL
    True
"""

from __future__ import annotations

import json
from pathlib import Path

from broker.codec import SchemaStore

__all__ = ["TOP_LEVEL", "publish", "published_versions"]

#: Schemas whose encoded values are stored or sent on their own (and so need history).
TOP_LEVEL = (
    "eu.fed.AuditCheckpoint",
    "eu.fed.AuditEvent",
    "eu.fed.ComplianceReceipt",
    "eu.fed.ControlOrder",
    "eu.fed.DeadLetter",
    "eu.fed.DeadlineNotice",
    "eu.fed.Dossier",
    "eu.fed.DossierManifest",
    "eu.fed.HitNotification",
    "eu.fed.InformationRequest",
    "eu.fed.Receipt",
    "eu.fed.RelayedOrder",
    "eu.fed.ReleaseGrant",
    "eu.fed.ReleaseRequest",
    "eu.fed.RequestRefusal",
    "eu.fed.RequestReply",
    "eu.fed.SignedControlOrder",
    "eu.fed.envelope.Envelope",
    "eu.fed.envelope.Header",
    "eu.fed.envelope.Inner",
    "eu.fed.envelope.Part",
    "eu.fed.hashlist.ListUpdate",
    "eu.fed.hashlist.SignedListUpdate",
    "eu.fed.hotline.SignedNotice",
    "eu.fed.hotline.TakedownNotice",
    "eu.fed.hotline.UrlReport",
    "eu.fed.trust.AuditKey",
    "eu.fed.trust.KeyCertificate",
    "eu.fed.trust.RegistryManifest",
    "eu.fed.trust.Revocation",
    "eu.fed.trust.SignedStatement",
)


def published_versions(directory: Path, name: str) -> list[Path]:
    """Return the files of every published version of ``name``."""
    return sorted((directory / "published" / name).glob("*.avsc"))


def publish(store: SchemaStore, directory: Path) -> list[Path]:
    """Write the canonical form of every current top-level schema not yet published."""
    written = []
    for name in TOP_LEVEL:
        path = directory / "published" / name / f"{store.fingerprint(name).hex()}.avsc"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # The full expanded schema (defaults, logical types, docs) — not only the
            # canonical form, which drops what readers need; its fingerprint is the same.
            path.write_text(json.dumps(store.schema(name), indent=1, sort_keys=True) + "\n")
            written.append(path)
    return written
