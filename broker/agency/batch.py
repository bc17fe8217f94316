"""One fetched batch of the inbox: what passed the checks, and what is left to settle.

:class:`Admitted` is a record that verified, decrypted and validated, waiting to be
accepted with the rest of its batch (:meth:`~broker.agency.store.AgencyStore.accept_many`).
:class:`Settlement` holds what a batch leaves to do before its offset is committed:
dead-letter acknowledgements, receipts to acknowledge, audit events to journal
(:func:`settle`). :func:`resume_text` and :func:`resumed` carry what a
``pending_handler`` row needs to rebuild the delivery at start-up, from the store.

Example::

    >>> Settlement().audit
    []
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from broker.agency.acceptance import Acceptance, PendingDelivery
from broker.agency.publisher import Outgoing, Publisher
from broker.agency.results import Delivery
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditSink
from broker.envelope import OpenedEnvelope
from broker.envelope.format import Header
from broker.errors import TransportError
from broker.models.codes import codes_from_json
from broker.models.streamed import Manifest
from broker.transport import translate_kafka_errors

__all__ = [
    "Admitted",
    "Position",
    "Settlement",
    "record_time",
    "resume_text",
    "resumed",
    "settle",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Position:
    """Where a record was read (for dead letters); a delivery resumed from the store keeps it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes = b""  # the envelope bytes; not kept in the store
    #: The record's timestamp (ms since the epoch): the router's stamp; None if unknown.
    timestamp: int | None = None

    @property
    def where(self) -> str:
        """``topic/partition/offset``."""
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True, kw_only=True)
class Admitted:
    """A record that passed every check of its own, to be accepted with its batch."""

    record: Any  # a ConsumerRecord, or the Position of a delivery resumed from the store
    opened: OpenedEnvelope
    sha256: bytes
    acceptance: Acceptance
    #: What the handler gets (None for a RECEIPT: nothing to hand over).
    delivery: Delivery | None
    #: Journaled once the record is delivered (OPEN; a RECEIPT also adds its own event).
    events: list[AuditEvent]


@dataclass
class Settlement:
    """What one fetched batch leaves to settle before its offset is committed."""

    # Dead-letter ack futures, with the record's position and SHA-256 (for a loss report).
    letters: list[tuple[Any, str, str]] = field(default_factory=list)
    receipts: list[Outgoing] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)


async def settle(work: Settlement, *, agency: str, publisher: Publisher, audit: AuditSink) -> None:
    """Acknowledge the batch's dead letters, then its receipts; journal its audit events.

    A dead letter Kafka refuses for good (not retriable) never stalls the inbox: the
    loss is logged, the record's ``REJECT`` (which carries its SHA-256 and position)
    is journaled all the same, and the offset is committed. A retriable failure ends
    the loop without committing, and the batch is handled again on restart.
    """
    try:
        letters, work.letters = work.letters, []
        for future, where, sha256 in letters:
            try:
                with translate_kafka_errors("dead-letter"):
                    await future
            except TransportError as exc:
                if exc.retriable:
                    raise
                log.error(  # noqa: TRY400 - the cause is in diagnostics, no traceback wanted
                    "%s: dead letter for %s lost (sha256 %s): %s",
                    agency,
                    where,
                    sha256,
                    exc.diagnostics(),
                )
        receipts, work.receipts = work.receipts, []
        for out in receipts:
            await publisher.settle(out, audit=work.audit)
    finally:
        events, work.audit = work.audit, []
        audit.record(*events)


def record_time(record: Any) -> dt.datetime | None:
    """Return the timestamp of an inbox record (the router's stamp), or None if it has none."""
    ms = getattr(record, "timestamp", None)
    if not isinstance(ms, int) or ms < 0:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def resume_text(opened: OpenedEnvelope, *, sha256: bytes, record: Any) -> str:
    """Return what a pending row keeps beside the stored payload and provenance.

    For a streamed dossier's manifest that includes the content key: its parts wait
    encrypted in the stream store, and a delivery handed over again after a crash must
    decrypt them (the row goes once the handler has run; the store already keeps
    plaintext dossiers).
    """
    h = opened.header
    streamed = h.payload_fingerprint == Manifest.fingerprint() and opened.content_key is not None
    return json.dumps(
        {
            "content_key": opened.content_key.hex() if streamed and opened.content_key else None,
            "sha256": sha256.hex(),
            "format_version": h.format_version,
            "recipients": h.recipients,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": None if record.key is None else bytes(record.key).hex(),
            "timestamp": getattr(record, "timestamp", None),
        }
    )


def resumed(row: PendingDelivery) -> tuple[OpenedEnvelope, bytes, Position]:
    """Rebuild a pending delivery's opened envelope, SHA-256 and position from the store."""
    extra = json.loads(row.resume)
    prov = row.provenance
    header = Header(
        format_version=extra["format_version"],
        suite=prov["suite"],
        envelope_id=prov["envelope_id"],
        sender=prov["sender"],
        sender_key_id=prov["sender_key_id"],
        recipients=[(a, k) for a, k in extra["recipients"]],
        created_at=dt.datetime.fromisoformat(prov["created_at"]),
        expires_at=dt.datetime.fromisoformat(prov["expires_at"]),
        sequence=prov["sequence"],
        kind=prov["kind"],
        payload_fingerprint=bytes.fromhex(prov["payload_fingerprint"]),
        codes=codes_from_json(prov["codes"]),
    )
    opened = OpenedEnvelope(
        header=header,
        recipient=prov["recipient"],
        recipient_key_id=prov["recipient_key_id"],
        payload=row.payload,
        content_key=bytes.fromhex(extra["content_key"]) if extra.get("content_key") else None,
    )
    key = extra["key"]
    position = Position(
        topic=extra["topic"],
        partition=extra["partition"],
        offset=extra["offset"],
        key=None if key is None else bytes.fromhex(key),
        timestamp=extra.get("timestamp"),
    )
    return opened, bytes.fromhex(extra["sha256"]), position
