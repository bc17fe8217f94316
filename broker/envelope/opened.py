"""What verifying and opening an envelope yield: the verified header, the opened payload.

Example::

    >>> VerifiedEnvelope.__dataclass_fields__.keys() >= {"header", "batch_root"}
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from broker.envelope.format import Header
from broker.models.codes import codes_to_json

__all__ = ["OpenedEnvelope", "VerifiedEnvelope"]


@dataclass(frozen=True, kw_only=True)
class VerifiedEnvelope:
    """An envelope whose signature verified (not decrypted)."""

    header: Header
    header_bytes: bytes
    batch_root: bytes | None

    @property
    def envelope_id(self) -> str:
        """The envelope id."""
        return self.header.envelope_id

    @property
    def sender(self) -> str:
        """The authenticated sender."""
        return self.header.sender


@dataclass(frozen=True, kw_only=True)
class OpenedEnvelope:
    """A verified, decrypted envelope: the payload and its provenance."""

    header: Header
    recipient: str
    recipient_key_id: str
    payload: bytes
    #: The envelope's content key: a streamed dossier's parts are encrypted under it
    #: (not part of what the envelope is: equality ignores it).
    content_key: bytes | None = field(default=None, repr=False, compare=False)

    def provenance(self) -> dict[str, Any]:
        """Return JSON-friendly provenance (no payload)."""
        h = self.header
        return {
            "envelope_id": h.envelope_id,
            "sender": h.sender,
            "sender_key_id": h.sender_key_id,
            "recipients": h.recipient_agencies,
            "recipient": self.recipient,
            "recipient_key_id": self.recipient_key_id,
            "suite": h.suite,
            "kind": h.kind,
            "sequence": h.sequence,
            "created_at": h.created_at.isoformat(),
            "expires_at": h.expires_at.isoformat(),
            "payload_fingerprint": h.payload_fingerprint.hex(),
            "codes": codes_to_json(h.codes),
        }
