"""Audit events of the request workflow (:mod:`broker.requests`), in one place.

The vocabulary (kinds ``REQUEST`` and ``DEADLINE``, their ``outcome`` strings and
field conventions) that :mod:`broker.audit.deadlines` reads back; built with
:meth:`AuditEvent.new` like every typed constructor of :mod:`broker.audit.events`.

Example::

    >>> ev = request_event(actor="ES-PN", envelope_id="r1", request_id="r1",
    ...     requester="DE-BKA", responder="ES-PN", outcome="received",
    ...     message_kind="REQUEST", reason="STANDARD")
    >>> ev.kind.value, ev.parties, ev.ref
    ('REQUEST', ['DE-BKA', 'ES-PN'], 'r1')
"""

from __future__ import annotations

from broker.audit.events import AuditEvent, AuditKind

__all__ = ["OUTCOMES", "deadline_event", "request_event"]

#: ``REQUEST`` outcomes: the request arrived; a final or partial reply; a refusal.
OUTCOMES = frozenset({"received", "replied", "replied-partial", "refused"})


def request_event(
    *,
    actor: str,
    envelope_id: str,
    request_id: str,
    requester: str,
    responder: str,
    outcome: str,
    message_kind: str,
    reason: str | None = None,
) -> AuditEvent:
    """A step of request ``request_id`` at the responder.

    ``outcome``: ``received`` (``envelope_id`` is the request, ``reason`` its urgency),
    ``replied`` / ``replied-partial`` (``envelope_id`` is the reply) or ``refused``
    (the refusal; ``reason`` is the ground). ``ref`` is always the request id.
    """
    return AuditEvent.new(
        AuditKind.REQUEST,
        actor=actor,
        envelope_id=envelope_id,
        parties=[requester, responder],
        outcome=outcome,
        reason=reason,
        ref=request_id,
        message_kind=message_kind,
    )


def deadline_event(
    *,
    actor: str,
    request_id: str,
    requester: str,
    responder: str,
    stage: str,
    urgency: str,
) -> AuditEvent:
    """Request ``request_id`` reached 75 % of its limit (``reminder``) or it (``overdue``).

    Written by the responder's node, and by the requester's when the overdue notice
    arrives; ``reason`` is the urgency.
    """
    return AuditEvent.new(
        AuditKind.DEADLINE,
        actor=actor,
        envelope_id=request_id,
        parties=[requester, responder],
        outcome=stage.lower(),
        reason=urgency,
        ref=request_id,
        message_kind="REQUEST",
    )
