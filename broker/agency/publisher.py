"""Publishing: one pipeline for one payload or many.

Every publish runs the same steps, in this order:

1. check every recipient is a member (before spending a sequence number);
2. reserve the sequence numbers durably (one SQLite transaction);
3. seal — one envelope with its own signature, or a batch under one signature
   over the RFC 9162 Merkle root of its envelopes (:func:`broker.envelope.seal_batch`),
   optionally across forked worker processes;
4. self-check the signature (a revoked or mis-certified own key fails here, not
   downstream);
5. hand the records to the idempotent ``acks=all`` producer (:meth:`Publisher.send`);
6. await Kafka's acknowledgement, then record them as sent and audit a
   ``PUBLISH`` per envelope (:meth:`Publisher.settle`).

Splitting 5 and 6 lets the inbox send a whole batch's receipts before waiting
for any of them. Every envelope keeps its own fresh content key, key wraps,
sequence number and envelope id; only the signature may be shared.

Example::

    results = await publisher.publish([payload], kind="DOSSIER", codes=codes, to=["DE-BKA"],
                                      batch_signature=False)
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from broker import telemetry
from broker.agency.results import PublishResult
from broker.agency.store import AgencyStore, SentRecord
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditSink
from broker.envelope import SealRequest, Verifier, seal, seal_batch
from broker.envelope.pool import EnvelopePool
from broker.errors import OversizedEnvelopeError
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["Outgoing", "Publisher"]


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """Sealed records handed to the producer, awaiting Kafka's acknowledgement."""

    futures: list[Any]
    requests: list[SealRequest]
    digests: list[bytes]
    topic: str
    kind: str
    codes: dict[str, Any]
    to: list[str]


class Publisher:
    """Seals payloads and produces them to the agency's outbox (see the module docstring)."""

    def __init__(
        self,
        *,
        identity: AgencyIdentity,
        trust: TrustStore,
        conn: KafkaConnection,
        layout: TopicLayout,
        store: AgencyStore,
        audit: AuditSink,
        metrics: telemetry.Metrics,
        suite: str,
        pool: Callable[[], EnvelopePool | None],
    ) -> None:
        self.agency = identity.agency
        self._identity = identity
        self._trust = trust
        self._conn = conn
        self._layout = layout
        self._store = store
        self._audit = audit
        self._metrics = metrics
        self._suite = suite
        self._pool = pool
        self._verifier = Verifier(trust=trust)
        self._producer: Any = None

    @property
    def identity(self) -> AgencyIdentity:
        """The agency's keys (a relay copy of a control order is signed with them)."""
        return self._identity

    @property
    def trust(self) -> TrustStore:
        """The federation registry the agency trusts."""
        return self._trust

    async def start(self) -> None:
        """Start the producer (idempotent)."""
        if self._producer is None:
            producer = self._conn.producer(client_id=f"{self.agency}-publisher")
            with translate_kafka_errors("start publisher"):
                await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        """Stop the producer (what was sent is flushed first)."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def produce(self, topic: str, *, value: bytes, key: bytes | None) -> Any:
        """Hand one unsealed record (a dead letter) to the producer; return its ack future."""
        await self.start()
        with translate_kafka_errors("dead-letter"):
            return await self._producer.send(topic, value=value, key=key)

    async def publish(
        self,
        payloads: Sequence[bytes],
        *,
        kind: str,
        codes: dict[str, Any],
        to: Sequence[str],
        suite: str | None = None,
        batch_signature: bool = True,
    ) -> list[PublishResult]:
        """Seal and produce ``payloads``; return once Kafka acknowledged every one."""
        return await self.settle(
            await self.send(
                payloads,
                kind=kind,
                codes=codes,
                to=to,
                suite=suite,
                batch_signature=batch_signature,
            )
        )

    async def send(
        self,
        payloads: Sequence[bytes],
        *,
        kind: str,
        codes: dict[str, Any],
        to: Sequence[str],
        suite: str | None = None,
        batch_signature: bool = True,
    ) -> Outgoing:
        """Steps 1-5: seal and hand the records to the producer; :meth:`settle` awaits acks.

        ``batch_signature=False`` seals one envelope with its own signature (the
        single-envelope format); it takes exactly one payload.
        """
        if not batch_signature and len(payloads) != 1:
            raise ValueError("a direct signature seals exactly one payload")
        for agency in to:
            self._trust.require_agency(agency)  # before spending sequence numbers
        await self.start()
        sequences = self._store.next_sequences(len(payloads))
        requests = [
            SealRequest(
                payload=payload,
                kind=kind,
                codes=codes,
                recipients=list(to),
                sequence=sequence,
                envelope_id=secrets.token_hex(16),
            )
            for payload, sequence in zip(payloads, sequences, strict=True)
        ]
        attributes: dict[str, Any] = {
            "fed.sender": self.agency,
            "fed.kind": kind,
            "fed.recipients": len(to),
        }
        if batch_signature:
            attributes["fed.batch_size"] = len(payloads)
        name = "agency.publish_batch" if batch_signature else "agency.publish"
        with telemetry.span(name, kind=trace.SpanKind.PRODUCER, attributes=attributes) as current:
            sealed = await self._seal(requests, suite=suite or self._suite, batch=batch_signature)
            if not batch_signature:
                current.set_attribute("fed.envelope_id", requests[0].envelope_id or "")
            headers = telemetry.inject_context([])
            topic = self._layout.outbox(self.agency)
            with translate_kafka_errors("publish"):
                futures = [
                    await self._producer.send(
                        topic, value=data, key=secrets.token_bytes(16), headers=headers
                    )
                    for data in sealed
                ]
        return Outgoing(
            futures=futures,
            requests=requests,
            digests=[hashlib.sha256(data).digest() for data in sealed],
            topic=topic,
            kind=kind,
            codes=codes,
            to=sorted(to),
        )

    async def _seal(self, requests: list[SealRequest], *, suite: str, batch: bool) -> list[bytes]:
        if not batch:
            req = requests[0]
            data = seal(
                req.payload,
                kind=req.kind,
                codes=req.codes,
                sender=self._identity,
                recipients=req.recipients,
                trust=self._trust,
                sequence=req.sequence,
                suite=suite,
                envelope_id=req.envelope_id,
            )
            self._verifier.verify(data)
            return [data]
        pool = self._pool()
        if pool is not None and len(requests) > 1:
            parts = await pool.seal(requests, suite=suite)
        else:
            parts = [seal_batch(requests, sender=self._identity, trust=self._trust, suite=suite)]
        for part in parts:  # one batch signature per part: check each once
            self._verifier.verify(part[0])
        sealed = [data for part in parts for data in part]
        for data in sealed:  # what every router and recipient would refuse is refused here
            if len(data) > self._verifier.max_envelope_bytes:
                raise OversizedEnvelopeError(
                    "envelope too large",
                    detail=f"{len(data)} bytes > {self._verifier.max_envelope_bytes}",
                )
        return sealed

    async def settle(
        self, out: Outgoing, *, audit: list[AuditEvent] | None = None
    ) -> list[PublishResult]:
        """Step 6: await the acks, record the envelopes as sent, audit their ``PUBLISH``.

        With ``audit`` the events are appended there (the inbox journals a consumed
        batch's events in one transaction); otherwise they are recorded now.
        """
        with translate_kafka_errors("publish"):
            metas = await asyncio.gather(*out.futures)
        ids = [req.envelope_id or "" for req in out.requests]
        self._store.record_sent_many(
            [
                SentRecord(
                    envelope_id=envelope_id,
                    kind=out.kind,
                    recipients=out.to,
                    sequence=req.sequence,
                    envelope_sha256=digest.hex(),
                )
                for envelope_id, req, digest in zip(ids, out.requests, out.digests, strict=True)
            ]
        )
        if audit is None and not self._audit.enabled:
            self._metrics.published.add(len(ids), {"fed.kind": out.kind})
            return self._results(out, ids, metas)
        events = [
            AuditEvent.publish(
                actor=self.agency,
                envelope_id=envelope_id,
                envelope_sha256=digest,
                recipients=out.to,
                codes=out.codes,
                message_kind=out.kind,
            )
            for envelope_id, digest in zip(ids, out.digests, strict=True)
        ]
        if audit is not None:
            audit.extend(events)
        else:
            self._audit.record(*events)
        self._metrics.published.add(len(ids), {"fed.kind": out.kind})
        return self._results(out, ids, metas)

    @staticmethod
    def _results(out: Outgoing, ids: list[str], metas: list[Any]) -> list[PublishResult]:
        return [
            PublishResult(
                envelope_id=envelope_id,
                sequence=req.sequence,
                topic=out.topic,
                partition=meta.partition,
                offset=meta.offset,
            )
            for envelope_id, req, meta in zip(ids, out.requests, metas, strict=True)
        ]
