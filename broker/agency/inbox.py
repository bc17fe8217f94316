"""The inbox: consume ``<prefix>.inbox.<AGENCY>``, open, hand over, receipt, commit.

Consumer group ``<prefix>.agency.<AGENCY>``, ``read_committed``. For each record:
verify and decrypt, refuse replays (persistent seen-set in SQLite), validate the
payload, call the handler, store the delivery, and send a signed Receipt back to
the sender through our own outbox. Anything that fails is dead-lettered to
``<prefix>.rejected.<AGENCY>`` with the precise reason and a bounded part of the
original bytes (:mod:`broker.deadletter`), and consumption goes on.

What a fetched batch leaves to do is held in an explicit :class:`_Batch`: the
dead letters and receipts handed to the producer and the audit events. At the
end of the batch they are settled in that order — dead letters acknowledged,
receipts acknowledged and recorded, audit events journaled in one transaction
— and only then is the offset committed. A crash before the commit re-delivers
the batch; the replay check makes that harmless (the seen-mark and the stored
delivery are one SQLite transaction), and handlers receive the envelope id to
be idempotent on.

Example::

    stats = await inbox.consume(handler=my_handler, until_idle=5.0)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
from aiokafka import TopicPartition
from opentelemetry import trace

from broker import telemetry
from broker._internal.retry import retry_transport
from broker.agency.expiry import ExpiryWatch
from broker.agency.publisher import Outgoing, Publisher
from broker.agency.reassembly import Reassembly
from broker.agency.results import ConsumeStats, Delivery, Handler
from broker.agency.store import AgencyStore
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditSink
from broker.codec import SchemaStore
from broker.deadletter import DeadLetter
from broker.envelope import DEFAULT_KEY_GRACE, OpenedEnvelope, Verifier
from broker.envelope.pool import EnvelopePool
from broker.errors import Error, ReplayError, TransportError, ValidationError
from broker.models import Dossier
from broker.retention import EXPIRED_UNREAD
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["Inbox"]

log = logging.getLogger(__name__)
_RECEIPT = "eu.fed.Receipt"


@dataclass
class _Batch:
    """What one fetched batch leaves to settle before its offset is committed."""

    # Dead-letter ack futures, with the record's position and SHA-256 (for a loss report).
    letters: list[tuple[Any, str, str]] = field(default_factory=list)
    receipts: list[Outgoing] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)


class Inbox:
    """One agency's inbox consumer (see the module docstring)."""

    def __init__(
        self,
        *,
        identity: AgencyIdentity,
        trust: TrustStore,
        conn: KafkaConnection,
        layout: TopicLayout,
        store: AgencyStore,
        publisher: Publisher,
        audit: AuditSink,
        metrics: telemetry.Metrics,
        pool: Callable[[], EnvelopePool | None],
    ) -> None:
        self.agency = identity.agency
        self._identity = identity
        self._conn = conn
        self._layout = layout
        self._store = store
        self._publisher = publisher
        self._audit = audit
        self._metrics = metrics
        self._pool = pool
        self.streams = Reassembly.beside(store, publisher=publisher, layout=layout, audit=audit)
        # Sender keys are judged at receive time too (a retired key cannot back-date).
        self._verifier = Verifier(trust=trust, key_grace=DEFAULT_KEY_GRACE)

    async def consume(
        self,
        *,
        handler: Handler | None = None,
        stop: asyncio.Event | None = None,
        until_idle: float | None = None,
        send_receipts: bool = True,
    ) -> ConsumeStats:
        """Consume until ``stop`` is set or ``until_idle`` seconds pass with nothing new."""
        stop = stop or asyncio.Event()
        stats = ConsumeStats()
        await self._publisher.start()
        consumer = self._conn.consumer(
            self._layout.inbox(self.agency),
            group_id=self._layout.consumer_group(self.agency),
            client_id=f"{self.agency}-inbox",
        )
        with translate_kafka_errors("start inbox consumer"):
            await consumer.start()
        batch = _Batch()
        last = time.monotonic()
        expiry = self._expiry_watch(consumer)
        try:
            while not stop.is_set():
                with translate_kafka_errors("poll inbox"):
                    fetched = await consumer.getmany(timeout_ms=200, max_records=200)
                for gap in await expiry.check(consumer):  # before any commit on the partition
                    stats.reasons[EXPIRED_UNREAD] = stats.reasons.get(EXPIRED_UNREAD, 0) + gap.lost
                if not any(fetched.values()):
                    await self.streams.sweep(stats, send_receipts=send_receipts)
                    if until_idle is not None and time.monotonic() - last >= until_idle:
                        break
                    continue
                last = time.monotonic()
                pool = self._pool()
                for tp, records in fetched.items():
                    # With workers, every check of Verifier.open runs there, in parallel;
                    # what follows (replay store, decode, handler, commit) stays in order here.
                    opened = (
                        await pool.open([r.value or b"" for r in records])
                        if pool is not None and len(records) > 1
                        else [None] * len(records)
                    )
                    for record, pre in zip(records, opened, strict=True):
                        await self._handle(record, handler, stats, send_receipts, pre, batch)
                    # Audit, then commit, only after every record of the batch was handled
                    # or dead-lettered (a crash before the commit re-delivers: re-audited).
                    done, batch = batch, _Batch()
                    await self._settle(done)
                    await self._commit(consumer, tp, records[-1].offset + 1)
        finally:
            try:
                await self._settle(batch)
            finally:
                await consumer.stop()
        return stats

    def _expiry_watch(self, consumer: Any) -> ExpiryWatch:
        """Return the watch that turns records expired unread into audited losses."""

        async def commit(tp: TopicPartition, offset: int) -> None:
            await self._commit(consumer, tp, offset)

        return ExpiryWatch(
            agency=self.agency,
            rejected_topic=self._layout.rejected(self.agency),
            produce=self._publisher.produce,
            audit=self._audit.record,
            commit=commit,
        )

    async def _settle(self, batch: _Batch) -> None:
        """Acknowledge the batch's dead letters, then its receipts; journal its audit events.

        A dead letter Kafka refuses for good (not retriable) never stalls the inbox: the
        loss is logged, the record's ``REJECT`` (which carries its SHA-256 and position)
        is journaled all the same, and the offset is committed. A retriable failure ends
        the loop without committing, and the batch is handled again on restart.
        """
        try:
            letters, batch.letters = batch.letters, []
            for future, where, sha256 in letters:
                try:
                    with translate_kafka_errors("dead-letter"):
                        await future
                except TransportError as exc:
                    if exc.retriable:
                        raise
                    log.error(  # noqa: TRY400 - the cause is in diagnostics, no traceback wanted
                        "%s: dead letter for %s lost (sha256 %s): %s",
                        self.agency,
                        where,
                        sha256,
                        exc.diagnostics(),
                    )
            receipts, batch.receipts = batch.receipts, []
            for out in receipts:
                await self._publisher.settle(out, audit=batch.audit)
        finally:
            events, batch.audit = batch.audit, []
            self._audit.record(*events)

    async def _commit(self, consumer: Any, tp: Any, offset: int) -> None:
        """Commit an offset, retrying while the broker is away (it is idempotent)."""

        async def commit() -> None:
            with translate_kafka_errors("commit inbox offsets"):
                await consumer.commit({TopicPartition(tp.topic, tp.partition): offset})

        await retry_transport(commit, what="commit", attempts=20, base=0.2, cap=5.0)

    async def _handle(
        self,
        record: Any,
        handler: Handler | None,
        stats: ConsumeStats,
        send_receipts: bool,
        pre: OpenedEnvelope | Error | None,
        batch: _Batch,
    ) -> None:
        value: bytes = record.value or b""
        sha256 = hashlib.sha256(value).hexdigest()
        opened: OpenedEnvelope | None = None
        with telemetry.span(
            "agency.deliver",
            kind=trace.SpanKind.CONSUMER,
            context=telemetry.extract_context(record.headers),
            attributes={"fed.recipient": self.agency},
        ) as current:
            try:
                if self.streams.take(record):  # a streamed dossier's part: stored, no receipt
                    return
                if isinstance(pre, Error):
                    raise pre  # the worker's verdict, dead-lettered like our own
                if pre is None:
                    started = time.perf_counter()
                    opened = self._verifier.open(value, identity=self._identity)
                    self._metrics.open_latency.record((time.perf_counter() - started) * 1000)
                else:
                    opened = pre
                header = opened.header
                current.set_attribute("fed.envelope_id", header.envelope_id)
                self._store.check_fresh(sender=header.sender, envelope_id=header.envelope_id)
                if header.kind == "RECEIPT":
                    self._take_receipt(opened, batch)
                    batch.audit.append(self._open_event(opened, sha256))
                    stats.receipts += 1
                    return
                dossier = None
                if header.kind == "DOSSIER":
                    dossier = self.streams.dossier(opened) or self._dossier(opened)
                delivery = Delivery(opened=opened, dossier=dossier, envelope_sha256=sha256)
                # Stamped now, before the handler runs: what the handler causes (the hub's
                # HIT_NOTIFICATION events) is then never dated before the OPEN behind it.
                open_event = self._open_event(opened, sha256)
                if handler is not None:
                    with telemetry.span("agency.handler", attributes={"fed.kind": header.kind}):
                        await handler(delivery)
                self._store.accept(
                    envelope_id=header.envelope_id,
                    sender=header.sender,
                    sequence=header.sequence,
                    expires_at=header.expires_at.timestamp(),
                    kind=header.kind,
                    provenance=opened.provenance(),
                    payload=opened.payload,
                )
                batch.audit.append(open_event)
                stats.delivered += 1
                self._metrics.delivered.add(1, {"fed.kind": header.kind})
            except Error as exc:
                current.set_attribute("fed.rejected", exc.reason)
                await self._reject(record, exc, opened, stats, batch)
                if send_receipts and opened is not None and not isinstance(exc, ReplayError):
                    await self._send_receipt(
                        opened, sha256=sha256, status="REJECTED", reason=exc.reason, batch=batch
                    )
                return
        if send_receipts:
            await self._send_receipt(
                opened, sha256=sha256, status="DELIVERED", reason=None, batch=batch
            )

    def _dossier(self, opened: OpenedEnvelope) -> Dossier:
        """Validate a decrypted dossier; what an error carries out is field paths and types.

        Decrypted content never leaves the agency: pydantic's messages quote the input
        (and our validators name the offending value), so only ``(field path, error
        type)`` pairs go into the error, hence into dead letters; the full text goes to
        the local log only.
        """
        try:
            return Dossier.from_bytes(opened.payload)
        except pydantic.ValidationError as exc:
            log.info("%s: dossier %s invalid: %s", self.agency, opened.header.envelope_id, exc)
            problems = [(_field_path(e["loc"]), e["type"]) for e in exc.errors(include_input=False)]
        except Error as exc:  # the Avro decoding (SchemaError)
            log.info("%s: dossier %s undecodable: %s", self.agency, opened.header.envelope_id, exc)
            problems = [("(root)", exc.reason)]
        raise ValidationError("payload does not validate", problems=problems)

    def _open_event(self, opened: OpenedEnvelope, sha256: str) -> AuditEvent:
        header = opened.header
        return AuditEvent.open(
            actor=self.agency,
            envelope_id=header.envelope_id,
            envelope_sha256=bytes.fromhex(sha256),
            sender=header.sender,
            codes=header.codes,
            message_kind=header.kind,
            ref=self.streams.ref(opened),
        )

    async def _send_receipt(
        self,
        opened: OpenedEnvelope,
        *,
        sha256: str,
        status: str,
        reason: str | None,
        batch: _Batch,
    ) -> None:
        receipt = SchemaStore.default().encode(
            _RECEIPT,
            {
                "envelope_id": opened.header.envelope_id,
                "envelope_sha256": bytes.fromhex(sha256),
                "recipient": self.agency,
                "status": status,
                "reason": reason,
                "at": dt.datetime.now(dt.UTC),
            },
        )
        # A receipt is one envelope with its own signature; acknowledged with the batch.
        batch.receipts.append(
            await self._publisher.send(
                [receipt],
                kind="RECEIPT",
                codes=opened.header.codes,
                to=[opened.header.sender],
                batch_signature=False,
            )
        )

    def _take_receipt(self, opened: OpenedEnvelope, batch: _Batch) -> None:
        rec = SchemaStore.default().decode(_RECEIPT, opened.payload)
        if rec["recipient"] != opened.header.sender:
            raise ValidationError(  # the named recipient is decrypted content: not quoted
                "receipt signed by someone else than the recipient it names",
                detail=f"signed by {opened.header.sender}",
            )
        self._store.record_receipt(
            envelope_id=rec["envelope_id"],
            recipient=rec["recipient"],
            status=rec["status"],
            reason=rec["reason"],
        )
        self._store.accept(
            envelope_id=opened.header.envelope_id,
            sender=opened.header.sender,
            sequence=opened.header.sequence,
            expires_at=opened.header.expires_at.timestamp(),
            kind="RECEIPT",
            provenance=opened.provenance(),
            payload=None,
        )
        batch.audit.append(
            AuditEvent.receipt(
                actor=self.agency,
                envelope_id=rec["envelope_id"],
                envelope_sha256=rec["envelope_sha256"],
                recipient=rec["recipient"],
                status=rec["status"],
                reason=rec["reason"],
                receipt_id=opened.header.envelope_id,
            )
        )

    async def _reject(
        self,
        record: Any,
        exc: Error,
        opened: OpenedEnvelope | None,
        stats: ConsumeStats,
        batch: _Batch,
    ) -> None:
        letter = DeadLetter.for_record(
            original=record.value or b"",
            key=record.key,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            stage="CONSUMER",
            rejected_by=self.agency,
            reason=exc.reason,
            detail=_letter_detail(exc),  # our own topic: the cause, never decrypted content
            envelope_id=opened.header.envelope_id if opened else None,
        )
        log.warning(  # the local log keeps the full diagnostics
            "%s rejected %s@%d: %s", self.agency, record.topic, record.offset, exc.diagnostics()
        )
        where = f"{record.topic}/{record.partition}/{record.offset}"
        batch.letters.append(  # acknowledged before the batch's offset is committed
            (
                await self._publisher.produce(
                    self._layout.rejected(self.agency), value=letter.to_bytes(), key=record.key
                ),
                where,
                letter.envelope_sha256.hex(),
            )
        )
        stats.rejected += 1
        stats.reasons[exc.reason] = stats.reasons.get(exc.reason, 0) + 1
        batch.audit.append(
            AuditEvent.reject(
                actor=self.agency,
                envelope_id=letter.envelope_id,
                envelope_sha256=letter.envelope_sha256,
                parties=[opened.header.sender, self.agency] if opened else [self.agency],
                reason=exc.reason,
                where=where,
            )
        )
        self._metrics.rejected.add(1, {"fed.reason": exc.reason, "fed.stage": "consumer"})


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _letter_detail(exc: Error) -> str:
    """Return what a dead letter may say about ``exc``: no cause chain, no decrypted value.

    The message is peer-safe by the error tree's rule, the detail is written by the
    checks that run before decryption (or names header fields only), and problems are
    field paths and error types; the chained cause (a third-party message that may
    quote decrypted input) stays in the local log.
    """
    text = f"{type(exc).__name__} [{exc.reason}]: {exc.message}"
    if exc.detail:
        text += f"\n  detail: {exc.detail}"
    if isinstance(exc, ValidationError):
        text += "".join(f"\n  {path}: {problem}" for path, problem in exc.problems)
    return text
