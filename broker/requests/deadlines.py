"""Deadlines with escalation, run by the agency's own inbox process: nobody polls.

:func:`serve` consumes the inbox (handing request traffic to
:func:`broker.requests.inbound.take`, then to the caller's handler) and, beside it,
checks the clock of every open request the agency received every
``Settings.request_check_s`` seconds (:func:`check`):

* at 75 % of the time limit: a **reminder** to the responding agency (this one) —
  logged, in its case thread, audited (``DEADLINE`` / ``reminder``);
* at the limit: an **overdue notice** to both sides — audited here (``DEADLINE`` /
  ``overdue``) and sent to the requester as a signed ``DEADLINE_NOTICE`` envelope,
  which the requester's inbox records and audits in its turn.

Each fires exactly once per request (a flag set in one SQLite transaction before
the event). The clock starts at the router's stamp of the request's inbox record.

Example::

    stats = await serve(desk, handler=show, stop=stop)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from broker.agency import ConsumeStats, Delivery, Handler
from broker.audit.request_events import deadline_event
from broker.errors import Error
from broker.requests.desk import RequestDesk
from broker.requests.inbound import take
from broker.requests.model import REMINDER_AT, DeadlineNotice, InformationRequest, Urgency
from broker.requests.store import RequestRow, RequestStore, ThreadEntry

__all__ = ["DeadlineLine", "check", "deadline_table", "serve"]

log = logging.getLogger(__name__)


async def check(desk: RequestDesk, *, now: float | None = None) -> list[tuple[str, str]]:
    """Fire every reminder and overdue notice due; return ``(request id, stage)`` fired."""
    now = time.time() if now is None else now
    fired: list[tuple[str, str]] = []
    for row in desk.store.requests(role="received"):
        if not row.is_open or row.received_at is None or row.deadline is None:
            continue
        span = row.deadline - row.received_at
        if not row.reminded and now >= row.received_at + REMINDER_AT * span:
            if desk.store.mark(row.request_id, stage="REMINDER"):
                _escalated(desk, row, stage="REMINDER", at=now)
                fired.append((row.request_id, "REMINDER"))
        if not row.overdue and now >= row.deadline:
            if desk.store.mark(row.request_id, stage="OVERDUE"):
                await _overdue(desk, row)
                _escalated(desk, row, stage="OVERDUE", at=now)
                fired.append((row.request_id, "OVERDUE"))
    return fired


def _escalated(desk: RequestDesk, row: RequestRow, *, stage: str, at: float) -> None:
    log.warning(
        "%s: request %s from %s (%s) %s",
        desk.agency,
        row.request_id,
        row.requester,
        row.urgency,
        "reaches 75% of its time limit" if stage == "REMINDER" else "is OVERDUE",
    )
    desk.store.add_entry(
        ThreadEntry(
            case_ref=row.case_ref,
            at=at,
            kind=stage,
            request_id=row.request_id,
            envelope_id=row.request_id,
            sender=desk.agency,
            recipient=desk.agency,
            detail=f"deadline {_iso(row.deadline)}",
        )
    )
    desk.node.audit.record(
        deadline_event(
            actor=desk.agency,
            request_id=row.request_id,
            requester=row.requester,
            responder=desk.agency,
            stage=stage,
            urgency=row.urgency,
        )
    )


async def _overdue(desk: RequestDesk, row: RequestRow) -> None:
    """Send the requester the signed overdue notice (under the request's own codes)."""
    assert row.received_at is not None and row.deadline is not None  # noqa: S101 - checked by caller
    notice = DeadlineNotice(
        request_id=row.request_id,
        case_ref=row.case_ref,
        stage="OVERDUE",
        urgency=Urgency(row.urgency),
        received_at=dt.datetime.fromtimestamp(row.received_at, dt.UTC),
        deadline=dt.datetime.fromtimestamp(row.deadline, dt.UTC),
        at=dt.datetime.now(dt.UTC),
    )
    codes = InformationRequest.from_bytes(row.payload).codes.to_avro()
    await desk.node.publish(
        notice.to_bytes(), kind="DEADLINE_NOTICE", codes=codes, to=[row.requester]
    )


def _iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


async def serve(
    desk: RequestDesk,
    *,
    handler: Handler | None = None,
    stop: asyncio.Event | None = None,
    until_idle: float | None = None,
    check_every: float = 30.0,
    **consume: Any,
) -> ConsumeStats:
    """Consume the agency's inbox with the request workflow and its deadline clock."""
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            try:
                await check(desk)
            except Error as exc:  # Kafka away, say: the next round tries again
                log.warning("%s: deadline check failed: %s", desk.agency, exc.diagnostics())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), check_every)

    async def both(delivery: Delivery) -> None:
        await take(desk, delivery)
        if handler is not None:
            await handler(delivery)

    task = asyncio.create_task(ticker())
    try:
        return await desk.node.consume(handler=both, stop=stop, until_idle=until_idle, **consume)
    finally:
        done.set()
        await task


@dataclass(frozen=True, kw_only=True)
class DeadlineLine:
    """One open request in ``broker deadlines``."""

    request_id: str
    direction: str  # "received" (we must answer) or "sent" (we wait)
    other: str
    case_ref: str
    urgency: str
    received_at: float | None
    deadline: float | None
    estimated: bool
    status: str
    reminded: bool
    overdue: bool

    def left(self, now: float) -> float | None:
        """Seconds left (negative: overdue), or None if unknown."""
        return None if self.deadline is None else self.deadline - now

    def to_json_dict(self, now: float) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "request_id": self.request_id,
            "direction": self.direction,
            "other": self.other,
            "case_ref": self.case_ref,
            "urgency": self.urgency.lower().replace("_", "-"),
            "received_at": _iso(self.received_at),
            "deadline": _iso(self.deadline),
            "deadline_estimated": self.estimated,
            "seconds_left": self.left(now),
            "status": self.status,
            "reminded": self.reminded,
            "overdue": self.overdue or (self.deadline is not None and now >= self.deadline),
        }


def deadline_table(store: RequestStore, *, scale: float = 1.0) -> list[DeadlineLine]:
    """Every open request, sent and received, soonest deadline first.

    A sent request's deadline is the responder's (from its notice) once known; until
    then it is estimated from our own send time (``estimated``): the router's stamp of
    its arrival is at or after it.
    """
    lines = []
    for row in store.requests():
        if not row.is_open:
            continue
        deadline, estimated = row.deadline, False
        if deadline is None and row.sent_at is not None:
            limit = Urgency(row.urgency).limit(scale=scale).total_seconds()
            deadline, estimated = row.sent_at + limit, True
        lines.append(
            DeadlineLine(
                request_id=row.request_id,
                direction=row.role,
                other=row.requester if row.role == "received" else row.responder,
                case_ref=row.case_ref,
                urgency=row.urgency,
                received_at=row.received_at,
                deadline=deadline,
                estimated=estimated,
                status=row.status,
                reminded=row.reminded,
                overdue=row.overdue,
            )
        )
    return sorted(lines, key=lambda line: (line.deadline is None, line.deadline or 0.0))
