"""Audit replay-verify rate (events/s, one core).

:func:`_audit_verify_rate` is the single place this figure comes from: the
auditor's own verifier (:class:`broker.audit.verify.AuditVerifier`, via
:func:`broker.audit.bench.verify_rate`) over a synthetic signed log of two
streams — an agency's PUBLISH/OPEN and the router's DELIVER — exactly as the
writers lay it out: Avro single-object events, gap-free sequence numbers, leaf
chaining, an Ed25519 C2SP checkpoint every 1,000 events. Timed is everything
``broker audit verify`` does after fetching: decode, sequence and chain checks,
RFC 9162 roots at every checkpoint, checkpoint signatures, the semantic rules.

Example::

    >>> _audit_verify_rate(3_000) > 0
    True
"""

from __future__ import annotations

from broker.audit.bench import verify_rate

__all__ = ["audit_verifier_name"]


def audit_verifier_name() -> str:
    """Name the verifier :func:`_audit_verify_rate` uses (reported with the figure)."""
    return "broker.audit.verify.AuditVerifier"


def _audit_verify_rate(events: int) -> float:
    """Return audit replay-verify events/s over ``events`` synthetic signed events."""
    return verify_rate(events)
