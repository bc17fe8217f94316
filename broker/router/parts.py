"""The router's check of a streamed dossier's part records (docs/envelope-format.md,
"Streamed dossiers").

A part carries no signature of its own (the manifest's one signature binds every
part, and only recipients can check it), so the router checks what it can without
keys: the record is at most the maximum record size, decodes canonically as an
``eu.fed.envelope.Part`` (``malformed-part``), names as sender the owner of the outbox
it was published in (``bad-signature``: outbox ownership is the only proof of origin
a part has before its manifest), and names only known, unrevoked recipients. Parts
are then routed like envelopes: copied byte for byte to each recipient's inbox in the
router's transaction, keeping their key (the envelope id), so the parts and the
manifest of one dossier stay in one partition, in order, exactly once.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN"])
    >>> check_part(b"junk", outbox_owner="ES-PN", trust=fed.trust)
    Traceback (most recent call last):
    ...
    broker.errors.MalformedPartError: part rejected
"""

from __future__ import annotations

import datetime as dt

from broker.envelope import MAX_ENVELOPE_BYTES
from broker.envelope.stream import Part
from broker.errors import SignatureError
from broker.trust.registry import TrustStore

__all__ = ["PART_KIND", "check_part"]

#: The ``kind`` of a part's route (and of its ROUTE/DELIVER audit events).
PART_KIND = "PART"


def check_part(
    value: bytes, *, outbox_owner: str, trust: TrustStore, max_bytes: int = MAX_ENVELOPE_BYTES
) -> Part:
    """Return the checked part (the router routes it to ``part.recipients``), or raise."""
    part = Part.from_bytes(value, max_bytes=max_bytes)
    if part.sender != outbox_owner:
        raise SignatureError(
            "part rejected",
            detail=f"part of {part.sender} published in {outbox_owner}'s outbox",
        )
    now = dt.datetime.now(dt.UTC)
    for agency in part.recipients:
        # Unknown, revoked or expired recipients raise their own TrustError.
        trust.encryption_key(agency=agency, at=now)
    return part
