"""Giving up a streamed dossier whose manifest never came (reason ``incomplete``).

The parts are already dropped (:meth:`broker.agency.reassembly.Reassembly.overdue`);
what is left is to say so: a dead letter on the agency's rejected topic (carrying the
last part record stored, bounded, and the envelope id), a ``REJECT`` audit event and,
unless the run sends none, a REJECTED receipt to the sender. The receipt is sealed
under the most restrictive codes: the dossier's own codes were in the manifest that
never came.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from broker.agency.publisher import Publisher
from broker.agency.results import ConsumeStats
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditSink
from broker.codec import SchemaStore
from broker.deadletter import DeadLetter
from broker.errors import IncompleteDossierError
from broker.topics import TopicLayout
from broker.transport import translate_kafka_errors

__all__ = ["RECEIPT_CODES", "GiveUp", "Gone"]

log = logging.getLogger(__name__)

#: Codes of a REJECTED receipt for a dossier whose codes never arrived: the strictest.
RECEIPT_CODES = {
    "handling": ["H2"],
    "h3_restrictions": None,
    "tlp": "RED",
    "pap": "RED",
    "classification": "RESTRICTED",
    "evaluation": {"source": "X", "information": "I4"},
    "legal_basis": "receipt of an incomplete streamed dossier",
    "purpose": "delivery status",
    "retention_review": dt.date(2099, 12, 31),
}


@dataclass(frozen=True, kw_only=True)
class Gone:
    """A dossier given up for want of its manifest."""

    sender: str
    envelope_id: str
    where: str
    last_part: bytes


@dataclass(frozen=True, kw_only=True)
class GiveUp:
    """Dead-letter, audit and receipt what :meth:`Reassembly.overdue` gave up."""

    publisher: Publisher
    layout: TopicLayout
    audit: AuditSink

    async def give_up(self, gone: list[Gone], stats: ConsumeStats, *, send_receipts: bool) -> None:
        """Report every dossier in ``gone`` (see the module docstring)."""
        agency = self.publisher.agency
        for g in gone:
            exc = IncompleteDossierError(
                "dossier incomplete", detail=f"no manifest for {g.envelope_id} in time"
            )
            topic, partition, offset = g.where.rsplit("/", 2)
            letter = DeadLetter.for_record(
                original=g.last_part,
                key=g.envelope_id.encode(),
                topic=topic,
                partition=int(partition),
                offset=int(offset),
                stage="CONSUMER",
                rejected_by=agency,
                reason=exc.reason,
                detail=f"IncompleteDossierError [incomplete]: {exc.message}\n"
                f"  detail: {exc.detail}",
                envelope_id=g.envelope_id,
            )
            log.warning("%s gave up %s from %s: incomplete", agency, g.envelope_id, g.sender)
            with translate_kafka_errors("dead-letter"):
                await (
                    await self.publisher.produce(
                        self.layout.rejected(agency),
                        value=letter.to_bytes(),
                        key=letter.original_key,
                    )
                )
            stats.rejected += 1
            stats.reasons[exc.reason] = stats.reasons.get(exc.reason, 0) + 1
            self.audit.record(
                AuditEvent.reject(
                    actor=agency,
                    envelope_id=g.envelope_id,
                    envelope_sha256=letter.envelope_sha256,
                    parties=[g.sender, agency],
                    reason=exc.reason,
                    where=g.where,
                )
            )
            if send_receipts:
                receipt = SchemaStore.default().encode(
                    "eu.fed.Receipt",
                    {
                        "envelope_id": g.envelope_id,
                        "envelope_sha256": hashlib.sha256(g.last_part).digest(),
                        "recipient": agency,
                        "status": "REJECTED",
                        "reason": exc.reason,
                        "at": dt.datetime.now(dt.UTC),
                    },
                )
                await self.publisher.publish(
                    [receipt],
                    kind="RECEIPT",
                    codes=RECEIPT_CODES,
                    to=[g.sender],
                    batch_signature=False,
                )
