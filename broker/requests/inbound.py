"""What arrives for the request workflow: requests, replies, refusals, notices, grants.

:func:`take` is an inbox handler (:data:`broker.agency.Handler`) for one agency's
:class:`~broker.requests.desk.RequestDesk`. A payload that does not validate, or a
message about a request it does not belong to (a reply from an agency that was not
asked, a grant for a release never asked), raises a
:class:`~broker.errors.ValidationError`: the inbox dead-letters it with that reason
and sends a REJECTED receipt (nothing is silently dropped). Other kinds pass through.

A received request's clock starts at the router's stamp
(:attr:`broker.agency.Delivery.received_at`, the inbox record's timestamp); only
if the record carries none (never for the router's records) the arrival time here.

Example::

    stats = await node.consume(handler=lambda d: take(desk, d))
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from broker.agency import Delivery
from broker.audit.request_events import deadline_event, request_event
from broker.codec import SchemaStore
from broker.errors import ValidationError
from broker.requests.model import DeadlineNotice, InformationRequest, RequestRefusal, RequestReply
from broker.requests.store import RequestRow, ThreadEntry

if TYPE_CHECKING:
    from broker.requests.desk import RequestDesk

__all__ = ["KINDS", "take"]

log = logging.getLogger(__name__)

#: Envelope kinds this module takes.
KINDS = frozenset({"REQUEST", "REPLY", "REFUSAL", "DEADLINE_NOTICE", "RELEASE_GRANT"})


async def take(desk: RequestDesk, delivery: Delivery) -> None:
    """Record what ``delivery`` means for the request workflow (see the module docstring)."""
    kind = delivery.opened.header.kind
    if kind == "REQUEST":
        _request(desk, delivery)
    elif kind == "REPLY":
        _reply(desk, delivery)
    elif kind == "REFUSAL":
        _refusal(desk, delivery)
    elif kind == "DEADLINE_NOTICE":
        _notice(desk, delivery)
    elif kind == "RELEASE_GRANT":
        _grant(desk, delivery)


def _request(desk: RequestDesk, delivery: Delivery) -> None:
    header = delivery.opened.header
    request = InformationRequest.from_bytes(delivery.opened.payload)
    stamp = delivery.received_at or dt.datetime.now(dt.UTC)
    received = stamp.timestamp()
    deadline = received + request.urgency.limit(scale=desk.scale).total_seconds()
    fresh = desk.store.add_request(
        RequestRow(
            request_id=header.envelope_id,
            role="received",
            requester=header.sender,
            responder=desk.agency,
            case_ref=request.case_ref,
            urgency=request.urgency.value,
            sent_at=None,
            received_at=received,
            deadline=deadline,
            status="open",
            reminded=False,
            overdue=False,
            closed_at=None,
            payload=delivery.opened.payload,
        )
    )
    desk.store.add_entry(
        ThreadEntry(
            case_ref=request.case_ref,
            at=received,
            kind="REQUEST",
            request_id=header.envelope_id,
            envelope_id=header.envelope_id,
            sender=header.sender,
            recipient=desk.agency,
            detail=request.urgency.cli,
        )
    )
    if fresh:  # a delivery handed over again after a crash is audited once
        desk.node.audit.record(
            request_event(
                actor=desk.agency,
                envelope_id=header.envelope_id,
                request_id=header.envelope_id,
                requester=header.sender,
                responder=desk.agency,
                outcome="received",
                message_kind="REQUEST",
                reason=request.urgency.value,
            )
        )


def _sent_request(desk: RequestDesk, request_id: str, sender: str) -> RequestRow:
    """The request we sent that ``sender`` answers; a ValidationError if it is not one."""
    rows = [r for r in desk.store.requests(role="sent") if r.request_id == request_id]
    if not rows or rows[0].responder != sender:
        raise ValidationError(
            "answer to a request this agency did not send to its sender",
            problems=[("request_id", f"{request_id} (from {sender})")],
        )
    return rows[0]


def _arrived(delivery: Delivery) -> float:
    return (delivery.received_at or dt.datetime.now(dt.UTC)).timestamp()


def _reply(desk: RequestDesk, delivery: Delivery) -> None:
    header = delivery.opened.header
    reply = RequestReply.from_bytes(delivery.opened.payload)
    row = _sent_request(desk, reply.request_id, header.sender)
    at = _arrived(delivery)
    desk.store.close_request(row.request_id, status="answered" if reply.final else "partial", at=at)
    dossier = reply.opened_dossier()
    desk.store.add_entry(
        ThreadEntry(
            case_ref=row.case_ref,
            at=at,
            kind="REPLY" if reply.final else "PARTIAL_REPLY",
            request_id=row.request_id,
            envelope_id=header.envelope_id,
            sender=header.sender,
            recipient=desk.agency,
            detail=dossier.summary[:80],
        )
    )


def _refusal(desk: RequestDesk, delivery: Delivery) -> None:
    header = delivery.opened.header
    refusal = RequestRefusal.from_bytes(delivery.opened.payload)
    row = _sent_request(desk, refusal.request_id, header.sender)
    at = _arrived(delivery)
    desk.store.close_request(row.request_id, status="refused", at=at)
    desk.store.add_entry(
        ThreadEntry(
            case_ref=row.case_ref,
            at=at,
            kind="REFUSAL",
            request_id=row.request_id,
            envelope_id=header.envelope_id,
            sender=header.sender,
            recipient=desk.agency,
            detail=refusal.ground.cli + (f": {refusal.note}" if refusal.note else ""),
        )
    )


def _notice(desk: RequestDesk, delivery: Delivery) -> None:
    header = delivery.opened.header
    notice = DeadlineNotice.from_bytes(delivery.opened.payload)
    row = _sent_request(desk, notice.request_id, header.sender)
    desk.store.learn_clock(
        row.request_id,
        received_at=notice.received_at.timestamp(),
        deadline=notice.deadline.timestamp(),
    )
    desk.store.add_entry(
        ThreadEntry(
            case_ref=row.case_ref,
            at=_arrived(delivery),
            kind=notice.stage,
            request_id=row.request_id,
            envelope_id=header.envelope_id,
            sender=header.sender,
            recipient=desk.agency,
            detail=f"deadline {notice.deadline.isoformat(timespec='seconds')}",
        )
    )
    if desk.store.mark(row.request_id, stage=notice.stage):
        log.warning(
            "%s: request %s to %s is %s",
            desk.agency,
            row.request_id,
            header.sender,
            notice.stage.lower(),
        )
        desk.node.audit.record(
            deadline_event(
                actor=desk.agency,
                request_id=row.request_id,
                requester=desk.agency,
                responder=header.sender,
                stage=notice.stage,
                urgency=row.urgency,
            )
        )


def _grant(desk: RequestDesk, delivery: Delivery) -> None:
    header = delivery.opened.header
    grant = SchemaStore.default().decode("eu.fed.ReleaseGrant", delivery.opened.payload)
    asked = {c.release_request_id: c for c in desk.store.consents()}
    consent = asked.get(grant["request_id"])
    if consent is None or consent.owner != header.sender:
        raise ValidationError(
            "release grant for a release this agency did not ask its sender",
            problems=[("request_id", f"{grant['request_id']} (from {header.sender})")],
        )
    release_to = sorted(set(grant["release_to"]))
    if not set(release_to) <= set(consent.requested_for):
        raise ValidationError(
            "release grant widens the audience",
            problems=[("release_to", f"asked for {consent.requested_for}, got {release_to}")],
        )
    desk.store.grant(
        consent.release_request_id, owner=header.sender, release_to=release_to, at=time.time()
    )
    row = desk.store.get(consent.request_id)
    desk.store.add_entry(
        ThreadEntry(
            case_ref=row.case_ref,
            at=_arrived(delivery),
            kind="CONSENT",
            request_id=row.request_id,
            envelope_id=header.envelope_id,
            sender=header.sender,
            recipient=desk.agency,
            detail="released to " + ", ".join(release_to),
        )
    )
