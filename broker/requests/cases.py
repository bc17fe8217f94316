"""Case threads from one agency's own stores: what ``broker cases`` and ``broker case show`` print.

A case is everything this agency holds under one case reference, in time order:
requests (sent and received), partial and final replies, refusals, reminders and
overdue notices, consents (:class:`~broker.requests.store.RequestStore`), the
receipts for what it sent in the case, dossiers it received under that reference,
and hub hits on envelopes of the thread (:class:`~broker.agency.store.AgencyStore`).
Its status: ``overdue`` if an open request passed its limit, ``open`` if one is
open, else ``closed``.

Example::

    for case in case_list(requests=store, agency_store=node.store, agency="ES-PN"):
        print(case.case_ref, case.status, len(case.lines))
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from broker.agency.store import AgencyStore
from broker.codec import SchemaStore
from broker.errors import Error, UnknownRequestError
from broker.models import Dossier
from broker.requests.store import RequestRow, RequestStore

__all__ = ["Case", "CaseLine", "case_list", "find_case"]


@dataclass(frozen=True, kw_only=True)
class CaseLine:
    """One line of a thread."""

    at: float
    kind: str
    sender: str
    recipient: str
    envelope_id: str
    request_id: str | None = None
    detail: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "at": dt.datetime.fromtimestamp(self.at, dt.UTC).isoformat(timespec="milliseconds"),
            "kind": self.kind,
            "sender": self.sender,
            "recipient": self.recipient,
            "envelope_id": self.envelope_id,
            "request_id": self.request_id,
            "detail": self.detail,
        }

    def text(self) -> str:
        """One human line."""
        at = dt.datetime.fromtimestamp(self.at, dt.UTC).isoformat(timespec="seconds")
        detail = f"  {self.detail}" if self.detail else ""
        return (
            f"{at}  {self.kind:<13} {self.sender} -> {self.recipient}  {self.envelope_id}{detail}"
        )


@dataclass(kw_only=True)
class Case:
    """One case: its requests and its thread."""

    case_ref: str
    requests: list[RequestRow] = field(default_factory=list)
    lines: list[CaseLine] = field(default_factory=list)

    def status(self, now: float | None = None) -> str:
        """``overdue``, ``open`` or ``closed``."""
        now = time.time() if now is None else now
        open_ = [r for r in self.requests if r.is_open]
        if any(r.overdue or (r.deadline is not None and now >= r.deadline) for r in open_):
            return "overdue"
        return "open" if open_ else "closed"

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "case_ref": self.case_ref,
            "status": self.status(),
            "requests": [
                {
                    "request_id": r.request_id,
                    "role": r.role,
                    "requester": r.requester,
                    "responder": r.responder,
                    "urgency": r.urgency.lower().replace("_", "-"),
                    "status": r.status,
                }
                for r in self.requests
            ],
            "thread": [line.to_json_dict() for line in self.lines],
        }


def _dossier_case(payload: bytes) -> str | None:
    try:
        return Dossier.from_bytes(payload).case_ref
    except Error:  # a streamed dossier's manifest, say: not shown in a thread
        return None


def case_list(*, requests: RequestStore, agency_store: AgencyStore, agency: str) -> list[Case]:
    """Return every case this agency has a request in, oldest first."""
    cases: dict[str, Case] = {}
    for row in requests.requests():
        cases.setdefault(row.case_ref, Case(case_ref=row.case_ref)).requests.append(row)
    envelope_case: dict[str, str] = {}
    for entry in requests.thread():
        case = cases.setdefault(entry.case_ref, Case(case_ref=entry.case_ref))
        envelope_case[entry.envelope_id] = entry.case_ref
        case.lines.append(
            CaseLine(
                at=entry.at,
                kind=entry.kind,
                sender=entry.sender,
                recipient=entry.recipient,
                envelope_id=entry.envelope_id,
                request_id=entry.request_id,
                detail=entry.detail,
            )
        )
    for envelope_id, recipient, status, reason, at in agency_store.receipt_log():
        ref = envelope_case.get(envelope_id)
        if ref is not None:
            cases[ref].lines.append(
                CaseLine(
                    at=at,
                    kind="RECEIPT",
                    sender=recipient,
                    recipient=agency,
                    envelope_id=envelope_id,
                    detail=status.lower() + (f" ({reason})" if reason else ""),
                )
            )
    codec = SchemaStore.default()
    for item in agency_store.inbox():
        if item.kind == "DOSSIER":
            ref = _dossier_case(item.payload)
            if ref in cases:
                cases[ref].lines.append(
                    CaseLine(
                        at=item.received_at,
                        kind="DOSSIER",
                        sender=item.sender,
                        recipient=agency,
                        envelope_id=item.envelope_id,
                    )
                )
        elif item.kind == "HIT_NOTIFICATION":
            hit = codec.decode("eu.fed.HitNotification", item.payload)
            ref = envelope_case.get(hit["owner_envelope_id"])
            if ref is not None:
                cases[ref].lines.append(
                    CaseLine(
                        at=item.received_at,
                        kind="HIT",
                        sender=item.sender,
                        recipient=agency,
                        envelope_id=item.envelope_id,
                        detail=f"on {hit['owner_envelope_id']}",
                    )
                )
    for case in cases.values():
        case.lines.sort(key=lambda line: line.at)
    return sorted(cases.values(), key=lambda c: c.lines[0].at if c.lines else 0.0)


def find_case(cases: list[Case], case_ref: str) -> Case:
    """Return the case ``case_ref``; :class:`UnknownRequestError` if this agency has none."""
    for case in cases:
        if case.case_ref == case_ref:
            return case
    raise UnknownRequestError(f"no case {case_ref!r} with a request at this agency")
