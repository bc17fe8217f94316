"""The request desk of one agency: send requests, reply, refuse.

:class:`RequestDesk` binds an :class:`~broker.agency.AgencyNode` (which seals, signs
and publishes like any envelope) to the agency's :class:`RequestStore`. What arrives
is taken by :mod:`broker.requests.inbound`; the clock by :mod:`broker.requests.deadlines`.

Example::

    async with AgencyNode.load(settings, agency="DE-BKA", conn=conn) as node:
        desk = RequestDesk.load(settings, node=node)
        sent = await desk.send(request, to="ES-PN")

    $ broker request ask.json --as DE-BKA --to ES-PN --urgency urgent-direct
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from broker import home
from broker.agency import AgencyNode, PublishResult
from broker.audit.request_events import request_event
from broker.config import Settings
from broker.errors import ConfigError, RequestClosedError
from broker.models import Dossier, MessageLink
from broker.requests.consent import require_consent
from broker.requests.model import (
    InformationRequest,
    RefusalGround,
    RequestRefusal,
    RequestReply,
    Urgency,
)
from broker.requests.store import RequestRow, RequestStore, ThreadEntry

__all__ = ["RequestDesk", "requests_db"]


def requests_db(settings: Settings, agency: str) -> Path:
    """``state/<AGENCY>/requests.db``: the agency's request state."""
    return home.stream_state_dir(settings, agency) / "requests.db"


class RequestDesk:
    """Send requests, reply and refuse for one agency (see the module docstring)."""

    def __init__(self, *, node: AgencyNode, store: RequestStore, scale: float = 1.0) -> None:
        self.node = node
        self.agency = node.agency
        self.store = store
        #: Multiplies the directive's time limits (Settings.request_time_scale).
        self.scale = scale

    @classmethod
    def load(cls, settings: Settings, *, node: AgencyNode) -> RequestDesk:
        """Open the agency's request store under the home directory."""
        store = RequestStore.open(requests_db(settings, node.agency))
        return cls(node=node, store=store, scale=settings.request_time_scale)

    def close(self) -> None:
        """Close the request store."""
        self.store.close()

    def limit(self, urgency: str) -> dt.timedelta:
        """Return the time limit of ``urgency`` under this desk's clock scale."""
        return Urgency(urgency).limit(scale=self.scale)

    async def send(self, request: InformationRequest, *, to: str) -> PublishResult:
        """Seal and publish ``request`` to ``to``; its id is the envelope id returned."""
        if to == self.agency:
            raise ConfigError("an agency does not send a request to itself")
        codes = request.codes.to_avro()
        result = await self.node.publish(request.to_bytes(), kind="REQUEST", codes=codes, to=[to])
        now = time.time()
        self.store.add_request(
            RequestRow(
                request_id=result.envelope_id,
                role="sent",
                requester=self.agency,
                responder=to,
                case_ref=request.case_ref,
                urgency=request.urgency.value,
                sent_at=now,
                received_at=None,
                deadline=None,
                status="open",
                reminded=False,
                overdue=False,
                closed_at=None,
                payload=request.to_bytes(),
            )
        )
        self.store.add_entry(
            ThreadEntry(
                case_ref=request.case_ref,
                at=now,
                kind="REQUEST",
                request_id=result.envelope_id,
                envelope_id=result.envelope_id,
                sender=self.agency,
                recipient=to,
                detail=request.urgency.cli,
            )
        )
        return result

    def _received(self, request_id: str) -> RequestRow:
        row = self.store.get(request_id)
        if row.role != "received":
            raise ConfigError(f"request {request_id} was sent by {self.agency}, not received")
        if not row.is_open:
            raise RequestClosedError(
                f"request {request_id} is closed ({row.status})", detail=row.case_ref
            )
        return row

    async def reply(self, request_id: str, dossier: Dossier, *, final: bool) -> PublishResult:
        """Answer ``request_id`` with ``dossier`` (linked to it); final closes the request.

        Raises :class:`~broker.errors.ConsentRequiredError` (and asks the originators) if
        the dossier would disclose another agency's restricted holding it has not released
        to the requester (:func:`broker.requests.consent.require_consent`).
        """
        row = self._received(request_id)
        links = list(dossier.links)
        if not any(link.link_type == "REPLY" and link.message_id == request_id for link in links):
            links.append(MessageLink(link_type="REPLY", message_id=request_id))
        dossier = dossier.model_copy(update={"links": links, "case_ref": row.case_ref})
        await require_consent(self, dossier, request_id=request_id, requester=row.requester)
        reply = RequestReply(
            request_id=request_id,
            case_ref=row.case_ref,
            final=final,
            dossier=dossier.to_bytes(),
            at=dt.datetime.now(dt.UTC),
        )
        result = await self.node.publish(
            reply.to_bytes(), kind="REPLY", codes=dossier.codes.to_avro(), to=[row.requester]
        )
        outcome = "replied" if final else "replied-partial"
        self._answered(row, result, outcome=outcome, kind="REPLY", reason=None)
        return result

    async def refuse(
        self, request_id: str, *, ground: RefusalGround, note: str | None = None
    ) -> PublishResult:
        """Refuse ``request_id`` on an Art. 6 ``ground``; closes the request."""
        row = self._received(request_id)
        request = InformationRequest.from_bytes(row.payload)
        refusal = RequestRefusal(
            request_id=request_id,
            case_ref=row.case_ref,
            ground=ground,
            note=note,
            at=dt.datetime.now(dt.UTC),
        )
        result = await self.node.publish(
            refusal.to_bytes(),
            kind="REFUSAL",
            codes=request.codes.to_avro(),
            to=[row.requester],
        )
        self._answered(row, result, outcome="refused", kind="REFUSAL", reason=ground.value)
        return result

    def _answered(
        self,
        row: RequestRow,
        result: PublishResult,
        *,
        outcome: str,
        kind: str,
        reason: str | None,
    ) -> None:
        now = time.time()
        status = {"replied": "answered", "replied-partial": "partial", "refused": "refused"}
        self.store.close_request(row.request_id, status=status[outcome], at=now)
        self.store.add_entry(
            ThreadEntry(
                case_ref=row.case_ref,
                at=now,
                kind="PARTIAL_REPLY" if outcome == "replied-partial" else kind,
                request_id=row.request_id,
                envelope_id=result.envelope_id,
                sender=self.agency,
                recipient=row.requester,
                detail=(reason or "").lower().replace("_", "-"),
            )
        )
        self.node.audit.record(
            request_event(
                actor=self.agency,
                envelope_id=result.envelope_id,
                request_id=row.request_id,
                requester=row.requester,
                responder=self.agency,
                outcome=outcome,
                message_kind=kind,
                reason=reason,
            )
        )
