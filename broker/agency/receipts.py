"""Receipts, both ways: the signed ``eu.fed.Receipt`` the inbox sends back for each
delivery (DELIVERED / REJECTED), and the receipts other agencies send us.

A receipt is one envelope with its own signature, sealed to the original sender and
produced through our own outbox; its acknowledgement is awaited with the batch
(:func:`broker.agency.batch.settle`). A receipt we receive is checked (it must be
signed by the recipient it names) and recorded with the rest of its batch.

Example::

    >>> Receipts.SCHEMA
    'eu.fed.Receipt'
"""

from __future__ import annotations

import datetime as dt

from broker.agency.acceptance import ReceiptRow
from broker.agency.batch import Settlement
from broker.agency.publisher import Publisher
from broker.audit.events import AuditEvent
from broker.codec import SchemaStore
from broker.envelope import OpenedEnvelope
from broker.errors import ValidationError

__all__ = ["Receipts"]


class Receipts:
    """Send and take receipts for one agency's inbox."""

    SCHEMA = "eu.fed.Receipt"

    def __init__(self, *, agency: str, publisher: Publisher) -> None:
        self.agency = agency
        self._publisher = publisher

    async def send(
        self,
        opened: OpenedEnvelope,
        *,
        sha256: bytes,
        status: str,
        reason: str | None,
        work: Settlement,
    ) -> None:
        """Seal and produce a receipt for ``opened`` to its sender (acknowledged with ``work``)."""
        receipt = SchemaStore.default().encode(
            self.SCHEMA,
            {
                "envelope_id": opened.header.envelope_id,
                "envelope_sha256": sha256,
                "recipient": self.agency,
                "status": status,
                "reason": reason,
                "at": dt.datetime.now(dt.UTC),
            },
        )
        work.receipts.append(
            await self._publisher.send(
                [receipt],
                kind="RECEIPT",
                codes=opened.header.codes,
                to=[opened.header.sender],
                batch_signature=False,
            )
        )

    def take(self, opened: OpenedEnvelope) -> tuple[ReceiptRow, AuditEvent]:
        """Check a receipt we received; return the row to record and its audit event."""
        rec = SchemaStore.default().decode(self.SCHEMA, opened.payload)
        if rec["recipient"] != opened.header.sender:
            raise ValidationError(  # the named recipient is decrypted content: not quoted
                "receipt signed by someone else than the recipient it names",
                detail=f"signed by {opened.header.sender}",
            )
        row = ReceiptRow(
            envelope_id=rec["envelope_id"],
            recipient=rec["recipient"],
            status=rec["status"],
            reason=rec["reason"],
        )
        event = AuditEvent.receipt(
            actor=self.agency,
            envelope_id=rec["envelope_id"],
            envelope_sha256=rec["envelope_sha256"],
            recipient=rec["recipient"],
            status=rec["status"],
            reason=rec["reason"],
            receipt_id=opened.header.envelope_id,
        )
        return row, event
