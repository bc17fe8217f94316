"""Audit replay-verify rate (events/s, one core).

:func:`_audit_verify_rate` is the single place ``broker bench`` takes this figure
from: :func:`broker.devtools.bench.audit_rate.verify_rate`, the full audit verifier (decode,
sequence numbers, leaf chaining, Merkle roots, checkpoint signatures, semantic
rules) over a synthetic signed stream held in memory, timed on one core.

Example::

    >>> _audit_verify_rate(3_000) > 0
    True
"""

from __future__ import annotations

from broker.devtools.bench.audit_rate import verify_rate

__all__ = ["AUDIT_VERIFIER", "_audit_verify_rate"]

#: Which verifier produced the figure (reported with it).
AUDIT_VERIFIER = "broker.devtools.bench.audit_rate.verify_rate"


def _audit_verify_rate(events: int) -> float:
    """Return audit replay-verify events/s over ``events`` synthetic signed events."""
    return verify_rate(events)
