"""Sealed envelopes: end-to-end encrypted to named recipients, signed by the sender.

Public API::

    from broker.envelope import seal, seal_batch, SealRequest, Verifier
    from broker.envelope import open_envelope, verify_envelope

``seal`` → bytes; ``Verifier(trust=...).verify(data)`` checks the signature with
the public registry only (the router); ``.open(data, identity=...)`` decrypts for
one recipient and returns the payload with its provenance. Every failure raises
an :class:`broker.errors.EnvelopeError` (or a :class:`broker.errors.TrustError`)
whose message says only "envelope rejected"; the cause is in ``diagnostics()``.

Example::

    >>> from broker.envelope import SUITES
    >>> sorted(SUITES)
    ['classic', 'pq-hybrid']
"""

from __future__ import annotations

from broker.envelope.format import FORMAT_VERSION, KINDS, MAX_LIFETIME, SUITES, Header
from broker.envelope.opened import OpenedEnvelope, VerifiedEnvelope
from broker.envelope.seal import DEFAULT_TTL, SealRequest, seal, seal_batch
from broker.envelope.verify import (
    DEFAULT_KEY_GRACE,
    DEFAULT_MAX_TRANSIT,
    DEFAULT_SKEW,
    MAX_ENVELOPE_BYTES,
    Verifier,
    open_envelope,
    verify_envelope,
)

__all__ = [
    "DEFAULT_KEY_GRACE",
    "DEFAULT_MAX_TRANSIT",
    "DEFAULT_SKEW",
    "DEFAULT_TTL",
    "FORMAT_VERSION",
    "KINDS",
    "MAX_ENVELOPE_BYTES",
    "MAX_LIFETIME",
    "SUITES",
    "Header",
    "OpenedEnvelope",
    "SealRequest",
    "VerifiedEnvelope",
    "Verifier",
    "open_envelope",
    "seal",
    "seal_batch",
    "verify_envelope",
]
