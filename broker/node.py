"""An agency node: publish sealed dossiers to its outbox; consume its inbox.

Publishing seals the payload (``broker.envelope``), reserves a durable per-sender
sequence number first, and produces to ``<prefix>.outbox.<AGENCY>`` with an
idempotent ``acks=all`` producer; :meth:`AgencyNode.publish` returns once the
broker acknowledged, with the envelope id.

Consuming (consumer group ``<prefix>.agency.<AGENCY>``, ``read_committed``):
verify and decrypt, validate the payload, refuse replays (persistent seen-set in
SQLite), call the handler, store the delivery, commit the offset only after all
of that succeeded, and send a signed Receipt back to the sender through our own
outbox. Anything that fails is dead-lettered to ``<prefix>.rejected.<AGENCY>``
with the precise reason and the original bytes, and consumption goes on.

Exactly once to the handler: the seen-mark and the stored delivery are one
SQLite transaction, and offsets are committed after it. A crash after the
handler but before that transaction re-delivers the record on restart; the
built-in store handler is idempotent by construction, custom handlers receive
the envelope id to be idempotent on.

Example::

    $ broker publish --as ES-PN --to DE-BKA,EUROPOL dossier.json
    $ broker inbox --as DE-BKA --until-idle 5 --json
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from opentelemetry import trace

from broker import home, telemetry
from broker.audit.events import AuditKind
from broker.audit.writer import AuditLog, load_audit_log
from broker.codec import SchemaStore
from broker.config import Settings
from broker.connect import connection_for
from broker.deadletter import DeadLetter
from broker.envelope import OpenedEnvelope, SealRequest, Verifier, seal, seal_batch
from broker.envelope.pool import EnvelopePool
from broker.errors import Error, ReplayError, TransportError, ValidationError
from broker.models import Dossier
from broker.store import AgencyStore
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore, load_identity, load_trust

__all__ = ["AgencyNode", "ConsumeStats", "Delivery", "PublishResult"]

log = logging.getLogger(__name__)
_RECEIPT = "eu.fed.Receipt"


@dataclass(frozen=True, kw_only=True)
class PublishResult:
    """What a publish returns once Kafka acknowledged it."""

    envelope_id: str
    sequence: int
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, kw_only=True)
class _InFlight:
    """A sealed record handed to the producer, awaiting Kafka's acknowledgement."""

    future: Any
    envelope_id: str
    sequence: int
    topic: str
    kind: str
    codes: dict[str, Any]
    to: list[str]
    digest: bytes


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """A verified, decrypted, validated delivery handed to the handler."""

    opened: OpenedEnvelope
    dossier: Dossier | None
    envelope_sha256: str

    @property
    def envelope_id(self) -> str:
        """The envelope id (handlers may de-duplicate on it)."""
        return self.opened.header.envelope_id

    def to_json_dict(self) -> dict[str, Any]:
        """Return sender, envelope id, codes, evaluation and the dossier, JSON-ready."""
        prov = self.opened.provenance()
        out: dict[str, Any] = {
            "sender": prov["sender"],
            "envelope_id": prov["envelope_id"],
            "kind": prov["kind"],
            "sequence": prov["sequence"],
            "codes": prov["codes"],
            "evaluation": prov["codes"]["evaluation"],
            "provenance": prov,
        }
        if self.dossier is not None:
            out["dossier"] = self.dossier.model_dump(mode="json")
        return out


Handler = Callable[[Delivery], Awaitable[None]]


@dataclass
class ConsumeStats:
    """Counters for one consume run."""

    delivered: int = 0
    receipts: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class AgencyNode:
    """One agency's publisher and inbox consumer."""

    def __init__(
        self,
        *,
        identity: AgencyIdentity,
        trust: TrustStore,
        conn: KafkaConnection,
        layout: TopicLayout,
        store: AgencyStore,
        suite: str = "classic",
        audit: AuditLog | None = None,
        crypto_workers: int = 0,
    ) -> None:
        self.identity = identity
        self.agency = identity.agency
        self.trust = trust
        self.conn = conn
        self.layout = layout
        self.store = store
        self.suite = suite
        self.audit = audit
        self._audit_buffer: list[tuple[AuditKind, dict[str, Any]]] | None = None
        # Receipts and dead letters of the batch being consumed, not yet acknowledged.
        self._in_flight: list[_InFlight] | None = None
        self._letters: list[Any] = []
        self._verifier = Verifier(trust=trust)
        self._producer: Any = None
        self._metrics = telemetry.Metrics()
        # publish_many seals and consume opens in this many forked processes (0: here).
        self._crypto_workers = crypto_workers
        self._pool: EnvelopePool | None = None

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        agency: str,
        passphrase: str | None = None,
        conn: KafkaConnection | None = None,
        crypto_workers: int = 0,
    ) -> AgencyNode:
        """Load keys, trust and state for ``agency`` from the home directory."""
        trust = load_trust(settings)
        identity = load_identity(settings, agency=agency, passphrase=passphrase, trust=trust)
        conn = conn or connection_for(settings, agency)
        return cls(
            identity=identity,
            trust=trust,
            conn=conn,
            layout=TopicLayout(prefix=settings.topic_prefix),
            store=AgencyStore.open(home.agency_db(settings, agency)),
            audit=load_audit_log(settings, stream=agency, conn=conn, passphrase=passphrase),
            crypto_workers=crypto_workers,
        )

    async def start(self) -> None:
        """Start the producer (and the audit writer, if any)."""
        if self._producer is None:
            self._producer = self.conn.producer(client_id=f"{self.agency}-publisher")
            with translate_kafka_errors("start publisher"):
                await self._producer.start()
            if self.audit is not None:
                await self.audit.start()

    async def close(self) -> None:
        """Stop the producer, publish the rest of the audit stream, close the state store."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self.audit is not None:
            await self.audit.close()
            self.audit = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self.store.close()

    def _audit(self, kind: AuditKind, **fields: Any) -> None:
        if self.audit is None:
            return
        if self._audit_buffer is not None:  # consuming: one journal transaction per batch
            self._audit_buffer.append((kind, fields))
        else:
            self.audit.emit(kind, actor=self.agency, **fields)

    def _flush_audit(self) -> None:
        if self.audit is not None and self._audit_buffer:
            self.audit.emit_many(self._audit_buffer)
        if self._audit_buffer is not None:
            self._audit_buffer.clear()

    async def __aenter__(self) -> AgencyNode:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- publishing ---------------------------------------------------------------------

    async def publish(
        self,
        payload: bytes,
        *,
        kind: str,
        codes: dict[str, Any],
        to: list[str],
        suite: str | None = None,
    ) -> PublishResult:
        """Seal ``payload`` to ``to`` and produce it to our outbox; return once acknowledged."""
        return await self._settle(
            await self._send(payload, kind=kind, codes=codes, to=to, suite=suite)
        )

    async def _send(
        self,
        payload: bytes,
        *,
        kind: str,
        codes: dict[str, Any],
        to: list[str],
        suite: str | None = None,
    ) -> _InFlight:
        """Seal and hand the record to the producer; :meth:`_settle` awaits Kafka's ack."""
        for agency in to:
            self.trust.require_agency(agency)  # before spending a sequence number
        await self.start()
        sequence = self.store.next_sequence()
        with telemetry.span(
            "agency.publish",
            kind=trace.SpanKind.PRODUCER,
            attributes={"fed.sender": self.agency, "fed.kind": kind, "fed.recipients": len(to)},
        ) as current:
            data = seal(
                payload,
                kind=kind,
                codes=codes,
                sender=self.identity,
                recipients=to,
                trust=self.trust,
                sequence=sequence,
                suite=suite or self.suite,
            )
            envelope_id = self._verifier.verify(data).envelope_id
            current.set_attribute("fed.envelope_id", envelope_id)
            headers = telemetry.inject_context([])
            topic = self.layout.outbox(self.agency)
            with translate_kafka_errors("publish"):
                future = await self._producer.send(
                    topic, value=data, key=secrets.token_bytes(16), headers=headers
                )
        return _InFlight(
            future=future,
            envelope_id=envelope_id,
            sequence=sequence,
            topic=topic,
            kind=kind,
            codes=codes,
            to=sorted(to),
            digest=hashlib.sha256(data).digest(),
        )

    async def _settle(self, sent: _InFlight) -> PublishResult:
        """Wait for Kafka's ack of a sent record, then record and audit it."""
        with translate_kafka_errors("publish"):
            meta = await sent.future
        self.store.record_sent(
            envelope_id=sent.envelope_id,
            kind=sent.kind,
            recipients=sent.to,
            sequence=sent.sequence,
            envelope_sha256=sent.digest.hex(),
        )
        self._audit(
            AuditKind.PUBLISH,
            envelope_id=sent.envelope_id,
            envelope_sha256=sent.digest,
            parties=[self.agency, *sent.to],
            codes=sent.codes,
            message_kind=sent.kind,
        )
        self._metrics.published.add(1, {"fed.kind": sent.kind})
        return PublishResult(
            envelope_id=sent.envelope_id,
            sequence=sent.sequence,
            topic=sent.topic,
            partition=meta.partition,
            offset=meta.offset,
        )

    async def publish_many(
        self,
        payloads: Sequence[bytes],
        *,
        kind: str,
        codes: dict[str, Any],
        to: list[str],
        suite: str | None = None,
    ) -> list[PublishResult]:
        """Seal ``payloads`` under one batch signature and produce them; return once all acked.

        Every envelope still has its own fresh content key, key wraps, sequence number
        and envelope id; only the signature is shared: one Ed25519 (+ ML-DSA-65)
        signature over the RFC 9162 Merkle root of the batch, each envelope carrying
        its inclusion path (:func:`broker.envelope.seal_batch`). Sequence numbers are
        reserved durably in one transaction before sealing, and the records are sent
        together so aiokafka can put them in one produce request. With
        ``crypto_workers`` the batch is split across forked worker processes
        (:class:`broker.envelope.pool.EnvelopePool`), one batch signature per part.
        """
        if not payloads:
            return []
        for agency in to:
            self.trust.require_agency(agency)  # before spending sequence numbers
        await self.start()
        sequences = self.store.next_sequences(len(payloads))
        chosen = suite or self.suite
        with telemetry.span(
            "agency.publish_batch",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "fed.sender": self.agency,
                "fed.kind": kind,
                "fed.recipients": len(to),
                "fed.batch_size": len(payloads),
            },
        ):
            requests = [
                SealRequest(
                    payload=payload,
                    kind=kind,
                    codes=codes,
                    recipients=to,
                    sequence=sequence,
                    envelope_id=secrets.token_hex(16),
                )
                for payload, sequence in zip(payloads, sequences, strict=True)
            ]
            pool = self._crypto_pool()
            if pool is not None and len(requests) > 1:
                parts = await pool.seal(requests, suite=chosen)
            else:
                parts = [seal_batch(requests, sender=self.identity, trust=self.trust, suite=chosen)]
            # Self-check each batch signature (as publish() checks its envelope): a revoked
            # or mis-certified own key fails here, not downstream.
            for part in parts:
                self._verifier.verify(part[0])
            sealed = [data for part in parts for data in part]
            headers = telemetry.inject_context([])
            topic = self.layout.outbox(self.agency)
            with translate_kafka_errors("publish"):
                futures = [
                    await self._producer.send(
                        topic, value=data, key=secrets.token_bytes(16), headers=headers
                    )
                    for data in sealed
                ]
                metas = await asyncio.gather(*futures)
        digests = [hashlib.sha256(data).digest() for data in sealed]
        self.store.record_sent_many(
            [
                (req.envelope_id or "", kind, sorted(to), req.sequence, digest.hex())
                for req, digest in zip(requests, digests, strict=True)
            ]
        )
        if self.audit is not None:
            parties = [self.agency, *sorted(to)]
            self.audit.emit_many(
                [
                    (
                        AuditKind.PUBLISH,
                        {
                            "envelope_id": req.envelope_id,
                            "envelope_sha256": digest,
                            "parties": parties,
                            "codes": codes,
                            "message_kind": kind,
                        },
                    )
                    for req, digest in zip(requests, digests, strict=True)
                ]
            )
        self._metrics.published.add(len(sealed), {"fed.kind": kind})
        return [
            PublishResult(
                envelope_id=req.envelope_id or "",
                sequence=req.sequence,
                topic=topic,
                partition=meta.partition,
                offset=meta.offset,
            )
            for req, meta in zip(requests, metas, strict=True)
        ]

    def _crypto_pool(self) -> EnvelopePool | None:
        if self._crypto_workers and self._pool is None:
            self._pool = EnvelopePool(
                identity=self.identity, trust=self.trust, workers=self._crypto_workers
            )
        return self._pool

    async def publish_dossier(
        self, dossier: Dossier, *, to: list[str], suite: str | None = None
    ) -> PublishResult:
        """Publish a dossier."""
        return await self.publish(
            dossier.to_bytes(), kind="DOSSIER", codes=dossier.codes.to_avro(), to=to, suite=suite
        )

    async def _send_receipt(
        self, opened: OpenedEnvelope, *, sha256: str, status: str, reason: str | None
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
        sent = await self._send(
            receipt, kind="RECEIPT", codes=opened.header.codes, to=[opened.header.sender]
        )
        # Within a consumed batch receipts are acknowledged together, before the commit.
        if self._in_flight is not None:
            self._in_flight.append(sent)
        else:
            await self._settle(sent)

    # -- consuming ----------------------------------------------------------------------------

    async def consume(
        self,
        *,
        handler: Handler | None = None,
        stop: asyncio.Event | None = None,
        until_idle: float | None = None,
        send_receipts: bool = True,
    ) -> ConsumeStats:
        """Consume our inbox until ``stop`` is set or ``until_idle`` seconds pass idle."""
        stop = stop or asyncio.Event()
        stats = ConsumeStats()
        await self.start()
        consumer = self.conn.consumer(
            self.layout.inbox(self.agency),
            group_id=self.layout.consumer_group(self.agency),
            client_id=f"{self.agency}-inbox",
        )
        with translate_kafka_errors("start inbox consumer"):
            await consumer.start()
        self._audit_buffer = []
        self._in_flight = []
        last = time.monotonic()
        try:
            while not stop.is_set():
                with translate_kafka_errors("poll inbox"):
                    batch = await consumer.getmany(timeout_ms=200, max_records=200)
                if not any(batch.values()):
                    if until_idle is not None and time.monotonic() - last >= until_idle:
                        break
                    continue
                last = time.monotonic()
                pool = self._crypto_pool()
                for tp, records in batch.items():
                    # With workers, every check of Verifier.open runs there, in parallel;
                    # what follows (replay store, decode, handler, commit) stays in order here.
                    opened = (
                        await pool.open([r.value or b"" for r in records])
                        if pool is not None and len(records) > 1
                        else [None] * len(records)
                    )
                    for record, pre in zip(records, opened, strict=True):
                        await self._handle(record, handler, stats, send_receipts, pre)
                    # Audit, then commit, only after every record of the batch was handled
                    # or dead-lettered (a crash before the commit re-delivers: re-audited).
                    await self._settle_batch()
                    self._flush_audit()
                    await self._commit(consumer, tp, records[-1].offset + 1)
        finally:
            try:
                await self._settle_batch()
            finally:
                self._in_flight = None
                self._flush_audit()
                self._audit_buffer = None
                await consumer.stop()
        return stats

    async def _settle_batch(self) -> None:
        """Wait for the batch's dead letters and receipts to be acknowledged (in order)."""
        letters, self._letters = self._letters, []
        with translate_kafka_errors("dead-letter"):
            for future in letters:
                await future
        pending, self._in_flight = self._in_flight or [], []
        for sent in pending:
            await self._settle(sent)

    async def _commit(self, consumer: Any, tp: Any, offset: int, attempts: int = 20) -> None:
        """Commit an offset, retrying while the broker is away (it is idempotent)."""
        for attempt in range(attempts):
            try:
                with translate_kafka_errors("commit inbox offsets"):
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): offset})
            except TransportError as exc:
                if not exc.retriable or attempt == attempts - 1:
                    raise
                log.warning("commit failed, retrying: %s", exc.diagnostics())
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
            else:
                return

    async def _handle(
        self,
        record: Any,
        handler: Handler | None,
        stats: ConsumeStats,
        send_receipts: bool,
        pre: OpenedEnvelope | Error | None = None,
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
                if isinstance(pre, Error):
                    raise pre  # the worker's verdict, dead-lettered like our own
                if pre is None:
                    started = time.perf_counter()
                    opened = self._verifier.open(value, identity=self.identity)
                    self._metrics.open_latency.record((time.perf_counter() - started) * 1000)
                else:
                    opened = pre
                header = opened.header
                current.set_attribute("fed.envelope_id", header.envelope_id)
                self.store.check_fresh(envelope_id=header.envelope_id)
                if header.kind == "RECEIPT":
                    await self._take_receipt(opened)
                    self._audit_open(opened, sha256)
                    stats.receipts += 1
                    return
                dossier = None
                if header.kind == "DOSSIER":
                    try:
                        dossier = Dossier.from_bytes(opened.payload)
                    except Exception as exc:
                        raise ValidationError("payload does not validate", detail=str(exc)) from exc
                delivery = Delivery(opened=opened, dossier=dossier, envelope_sha256=sha256)
                if handler is not None:
                    with telemetry.span("agency.handler", attributes={"fed.kind": header.kind}):
                        await handler(delivery)
                self.store.accept(
                    envelope_id=header.envelope_id,
                    sender=header.sender,
                    sequence=header.sequence,
                    expires_at=header.expires_at.timestamp(),
                    kind=header.kind,
                    provenance=opened.provenance(),
                    payload=opened.payload,
                )
                self._audit_open(opened, sha256)
                stats.delivered += 1
                self._metrics.delivered.add(1, {"fed.kind": header.kind})
            except Error as exc:
                current.set_attribute("fed.rejected", exc.reason)
                await self._reject(record, exc, opened, stats)
                if send_receipts and opened is not None and not isinstance(exc, ReplayError):
                    await self._send_receipt(
                        opened, sha256=sha256, status="REJECTED", reason=exc.reason
                    )
                return
        if send_receipts:
            await self._send_receipt(opened, sha256=sha256, status="DELIVERED", reason=None)

    def _audit_open(self, opened: OpenedEnvelope, sha256: str) -> None:
        header = opened.header
        self._audit(
            AuditKind.OPEN,
            envelope_id=header.envelope_id,
            envelope_sha256=bytes.fromhex(sha256),
            parties=[header.sender, self.agency],
            codes=header.codes,
            message_kind=header.kind,
        )

    async def _take_receipt(self, opened: OpenedEnvelope) -> None:
        rec = SchemaStore.default().decode(_RECEIPT, opened.payload)
        if rec["recipient"] != opened.header.sender:
            raise ValidationError(
                "receipt signed by someone else than the recipient it names",
                detail=f"signed by {opened.header.sender}, names {rec['recipient']}",
            )
        self.store.record_receipt(
            envelope_id=rec["envelope_id"],
            recipient=rec["recipient"],
            status=rec["status"],
            reason=rec["reason"],
        )
        self.store.accept(
            envelope_id=opened.header.envelope_id,
            sender=opened.header.sender,
            sequence=opened.header.sequence,
            expires_at=opened.header.expires_at.timestamp(),
            kind="RECEIPT",
            provenance=opened.provenance(),
            payload=None,
        )
        self._audit(
            AuditKind.RECEIPT,
            envelope_id=rec["envelope_id"],
            envelope_sha256=rec["envelope_sha256"],
            parties=[self.agency, rec["recipient"]],
            outcome=rec["status"].lower(),
            reason=rec["reason"],
            ref=opened.header.envelope_id,
        )

    async def _reject(
        self, record: Any, exc: Error, opened: OpenedEnvelope | None, stats: ConsumeStats
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
            detail=exc.diagnostics(),  # our own topic: the precise cause is ours to keep
            envelope_id=opened.header.envelope_id if opened else None,
        )
        log.warning("%s rejected %s@%d: %s", self.agency, record.topic, record.offset, exc.reason)
        with translate_kafka_errors("dead-letter"):
            future = await self._producer.send(
                self.layout.rejected(self.agency), value=letter.to_bytes(), key=record.key
            )
        self._letters.append(future)  # acknowledged before the batch's offsets are committed
        stats.rejected += 1
        stats.reasons[exc.reason] = stats.reasons.get(exc.reason, 0) + 1
        self._audit(
            AuditKind.REJECT,
            envelope_id=letter.envelope_id,
            envelope_sha256=hashlib.sha256(record.value or b"").digest(),
            parties=[opened.header.sender, self.agency] if opened else [self.agency],
            outcome="rejected",
            reason=exc.reason,
            ref=f"{record.topic}/{record.partition}/{record.offset}",
        )
        self._metrics.rejected.add(1, {"fed.reason": exc.reason, "fed.stage": "consumer"})
