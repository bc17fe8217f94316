"""The router: outboxes in, inboxes out, exactly once, holding no decryption keys.

For every record on ``<prefix>.outbox.<SENDER>`` the router checks, without
decrypting, that the envelope's signature verifies against the federation
registry, that the signer owns that outbox, and that every recipient exists and
is not revoked. It then copies the exact bytes to each recipient's inbox; a
record that fails goes to the sender's rejected topic with a reason code and the
original bytes.

Exactly once: consume-transform-produce in a Kafka transaction. The inbox writes,
the dead letters and the consumer offsets commit atomically
(``send_offsets_to_transaction``), and inbox consumers read ``read_committed``.
A router killed mid-batch leaves an open transaction that the restarted router
(same ``transactional.id``) fences and aborts; it resumes from the committed
offsets, so nothing is lost and nothing is delivered twice.

Example::

    $ broker router run --until-idle 5
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import TopicPartition
from opentelemetry import trace

from broker import telemetry
from broker._internal.retry import retry_transport
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditLog
from broker.deadletter import DeadLetter
from broker.envelope import Verifier
from broker.errors import Error, SignatureError, TransportError
from broker.topics import ROUTER, TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors
from broker.trust.registry import TrustStore

__all__ = ["EnvelopeCheck", "Route", "Router", "RoutingCheck"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Route:
    """What the check found: who signed it and where it goes."""

    envelope_id: str
    sender: str
    recipients: list[str]
    kind: str


class RoutingCheck(Protocol):
    """Verify a record from ``outbox_owner``'s outbox; raise a broker Error to reject it."""

    def __call__(self, value: bytes, *, outbox_owner: str) -> Route: ...


class EnvelopeCheck:
    """The router's check: signature, outbox ownership, recipients known and not revoked.

    Holds only the public registry: the router can verify but never decrypt.
    """

    def __init__(self, *, trust: TrustStore) -> None:
        self._verifier = Verifier(trust=trust)
        self._trust = trust

    def __call__(self, value: bytes, *, outbox_owner: str) -> Route:
        """Return where the envelope goes, or raise the reason it is refused."""
        now = dt.datetime.now(dt.UTC)
        verified = self._verifier.verify(value, now=now)
        header = verified.header
        if header.sender != outbox_owner:
            raise SignatureError(
                "envelope rejected",
                detail=f"signed by {header.sender} but published in {outbox_owner}'s outbox",
            )
        for agency, key_id in header.recipients:
            # Unknown, revoked or expired recipient keys raise their own TrustError.
            self._trust.encryption_key(agency=agency, key_id=key_id, at=now)
        return Route(
            envelope_id=header.envelope_id,
            sender=header.sender,
            recipients=header.recipient_agencies,
            kind=header.kind,
        )


@dataclass
class RouterStats:
    """Counters for one run (reported by ``--until-idle`` runs and tests)."""

    consumed: int = 0
    routed: int = 0
    rejected: int = 0
    transactions: int = 0


class Router:
    """Consume every outbox, verify, and fan out in Kafka transactions."""

    def __init__(
        self,
        *,
        conn: KafkaConnection,
        layout: TopicLayout,
        check: RoutingCheck,
        transactional_id: str | None = None,
        on_reject: Callable[[DeadLetter, Error], None] | None = None,
        max_batch: int = 500,
        audit: AuditLog | None = None,
    ) -> None:
        self._conn = conn
        self._layout = layout
        self._check = check
        self._txn_id = transactional_id or f"{layout.router_group}.0"
        self._on_reject = on_reject
        self._max_batch = max_batch
        self._metrics = telemetry.Metrics()
        self._audit = audit
        self._audit_pending: list[AuditEvent] = []
        self.stats = RouterStats()

    async def run(
        self, *, stop: asyncio.Event | None = None, until_idle: float | None = None
    ) -> RouterStats:
        """Route until ``stop`` is set, or until ``until_idle`` seconds pass with nothing new."""
        stop = stop or asyncio.Event()
        producer, consumer = await self._start_clients()
        if self._audit is not None:
            with translate_kafka_errors("start router"):
                await self._audit.start()
        last_activity = time.monotonic()
        try:
            while not stop.is_set():
                with translate_kafka_errors("poll outboxes"):
                    batch = await consumer.getmany(timeout_ms=200, max_records=self._max_batch)
                if not any(batch.values()):
                    if until_idle is not None and time.monotonic() - last_activity >= until_idle:
                        break
                    continue
                last_activity = time.monotonic()
                try:
                    await self._route_batch(producer, consumer, batch)
                except TransportError as exc:
                    if not exc.retriable:
                        raise
                    log.warning("router transaction aborted, retrying: %s", exc.diagnostics())
                    await asyncio.sleep(0.5)
        finally:
            await consumer.stop()
            await producer.stop()
            if self._audit is not None:
                await self._audit.close()
        return self.stats

    async def _start_clients(self, attempts: int = 8) -> tuple[Any, Any]:
        """Start the transactional producer and the consumer, retrying while a broker is away.

        Starting is idempotent (a new producer re-fences the transactional id), so a
        failure — e.g. the transaction coordinator's broker just died — is retried with
        backoff instead of ending the router.
        """

        async def start() -> tuple[Any, Any]:
            producer = self._conn.producer(transactional_id=self._txn_id, linger_ms=2)
            consumer = self._conn.consumer(
                group_id=self._layout.router_group, metadata_max_age_ms=5_000
            )
            try:
                with translate_kafka_errors("start router"):
                    await producer.start()
                    await consumer.start()
                    consumer.subscribe(pattern=self._layout.outbox_pattern)
            except TransportError:
                await consumer.stop()
                await producer.stop()
                raise
            return producer, consumer

        return await retry_transport(
            start, what="router start", attempts=attempts, base=0.5, cap=10.0
        )

    async def _route_batch(self, producer: Any, consumer: Any, batch: dict[Any, list[Any]]) -> None:
        self._audit_pending.clear()
        try:
            with translate_kafka_errors("route transaction"):
                async with producer.transaction():
                    offsets: dict[TopicPartition, int] = {}
                    for tp, records in batch.items():
                        for record in records:
                            await self._route_one(producer, record)
                        offsets[tp] = records[-1].offset + 1
                    await producer.send_offsets_to_transaction(offsets, self._layout.router_group)
        except TransportError:
            # The transaction was aborted: rewind to the first record of the batch so it is
            # routed again (nothing from the aborted transaction is visible to readers).
            for tp, records in batch.items():
                consumer.seek(tp, records[0].offset)
            raise
        # Audit what the committed transaction did (an aborted one did nothing).
        if self._audit is not None:
            self._audit.record(self._audit_pending)
        self._audit_pending.clear()
        self.stats.transactions += 1
        self.stats.consumed += sum(len(r) for r in batch.values())

    async def _route_one(self, producer: Any, record: Any) -> None:
        value: bytes = record.value or b""
        try:
            owner = self._layout.agency_of_outbox(record.topic)
        except Error as exc:
            # A topic matching the outbox pattern but naming no valid agency has no
            # rejected topic to go to: it is logged loudly, never routed.
            log.error(  # noqa: TRY400 - the cause is in diagnostics, no traceback wanted
                "unroutable topic %s@%d: %s", record.topic, record.offset, exc.diagnostics()
            )
            self.stats.rejected += 1
            return
        parent = telemetry.extract_context(record.headers)
        with telemetry.span(
            "router.route",
            kind=trace.SpanKind.CONSUMER,
            context=parent,
            attributes={"messaging.source": record.topic, "fed.sender": owner},
        ) as current:
            try:
                route = self._check(value, outbox_owner=owner)
            except Error as exc:
                current.set_attribute("fed.rejected", exc.reason)
                await self._reject(producer, record, owner, exc)
                return
            current.set_attribute("fed.envelope_id", route.envelope_id)
            headers = telemetry.inject_context([])
            key = record.key if record.key is not None else secrets.token_bytes(16)
            for recipient in route.recipients:
                await producer.send(
                    self._layout.inbox(recipient), value=value, key=key, headers=headers
                )
                self._metrics.routed.add(1, {"fed.recipient": recipient})
            self.stats.routed += len(route.recipients)
            if self._audit is not None:
                self._note_route(route, hashlib.sha256(value).digest())

    def _note_route(self, route: Route, digest: bytes) -> None:
        envelope_id, sender, kind = route.envelope_id, route.sender, route.kind
        self._audit_pending.append(
            AuditEvent.route(
                actor=ROUTER,
                envelope_id=envelope_id,
                envelope_sha256=digest,
                sender=sender,
                recipients=route.recipients,
                message_kind=kind,
            )
        )
        self._audit_pending.extend(
            AuditEvent.deliver(
                actor=ROUTER,
                envelope_id=envelope_id,
                envelope_sha256=digest,
                sender=sender,
                recipient=recipient,
                message_kind=kind,
            )
            for recipient in route.recipients
        )

    async def _reject(self, producer: Any, record: Any, owner: str, exc: Error) -> None:
        # The sender's rejected topic is readable by the sender, who may be the attacker:
        # only the reason code goes there; the precise cause goes to our log and hook.
        letter = DeadLetter.for_record(
            original=record.value or b"",
            key=record.key,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            stage="ROUTER",
            rejected_by=ROUTER,
            reason=exc.reason,
        )
        log.warning("rejected %s@%d: %s", record.topic, record.offset, exc.diagnostics())
        await producer.send(self._layout.rejected(owner), value=letter.to_bytes(), key=record.key)
        self._metrics.rejected.add(1, {"fed.reason": exc.reason, "fed.stage": "router"})
        self.stats.rejected += 1
        if self._audit is not None:
            self._audit_pending.append(
                AuditEvent.reject(
                    actor=ROUTER,
                    envelope_id=letter.envelope_id,
                    envelope_sha256=hashlib.sha256(record.value or b"").digest(),
                    parties=[owner],
                    reason=exc.reason,
                    where=f"{record.topic}/{record.partition}/{record.offset}",
                )
            )
        if self._on_reject is not None:
            self._on_reject(letter, exc)
