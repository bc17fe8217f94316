"""The router: outboxes in, inboxes out, exactly once, holding no decryption keys.

For every record on ``<prefix>.outbox.<SENDER>`` the router checks, without
decrypting, that the envelope's signature verifies against the federation
registry, that the signer owns that outbox, and that every recipient exists and
is not revoked, and that it is no larger than
:data:`~broker.envelope.MAX_ENVELOPE_BYTES` (``too-large``). It then copies the
exact bytes to each recipient's inbox; a record that fails goes to the sender's
rejected topic as a bounded dead letter with a reason code (see
:mod:`broker.deadletter`).

Exactly once: consume-transform-produce in Kafka transactions, one per outbox
partition of a fetched batch. The inbox writes, the dead letters and the
partition's consumer offset commit atomically (``send_offsets_to_transaction``),
and inbox consumers read ``read_committed``. Several routers share the outboxes
as one consumer group; each input partition has its own ``transactional.id``
(:mod:`broker.router.fencing` says why: aiokafka has no KIP-447 group
fencing). A router killed mid-batch leaves open transactions that the partition's
next owner — another instance, or the restarted router — fences and aborts when it
claims the partition; it resumes from the committed offset, so nothing is lost
and nothing is delivered twice.

Every write of a transaction is acknowledged before its offsets are committed:
Kafka does not fail a transaction when one of its records is refused, so the
router awaits each send first. A refused write aborts the transaction and the
batch is routed again; a record the broker refuses for good (e.g. too large for
the recipient's inbox) goes to the sender's rejected topic as
``undeliverable`` instead. ``DELIVER`` is audited only for acknowledged writes.
If even the dead letter is refused for good, the loss is logged and audited as
a ``REJECT`` carrying the record's SHA-256, and the offset moves on: one record
never stalls the router.

Outbox records that expired (topic retention) before the router read them are
reported, never skipped: see :mod:`broker.router.expiry`.

Example::

    $ broker router run --until-idle 5
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from opentelemetry import trace

from broker import telemetry
from broker._internal.retry import retry_transport
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditLog
from broker.deadletter import DeadLetter
from broker.envelope import MAX_ENVELOPE_BYTES
from broker.errors import (
    Error,
    OversizedEnvelopeError,
    TransportError,
    UndeliverableError,
)
from broker.router.attempt import Attempt, Refused, Send, where
from broker.router.check import Route, RoutingCheck
from broker.router.expiry import outbox_watch, report_expired
from broker.router.fencing import PartitionProducers, fatal_producer, fenced
from broker.router.parts import PART_KIND
from broker.topics import ROUTER, TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors

__all__ = ["Router", "RouterStats"]

log = logging.getLogger(__name__)


@dataclass
class RouterStats:
    """Counters for one run (reported by ``--until-idle`` runs and tests)."""

    consumed: int = 0
    routed: int = 0
    rejected: int = 0
    transactions: int = 0
    #: Outbox offsets that expired before the router read them (reported as audited losses).
    lost: int = 0


class Router:
    """Consume every outbox, verify, and fan out in Kafka transactions.

    ``transactional_id`` is the prefix of the per-partition transactional ids
    (default: the router's consumer group); every instance sharing the outboxes
    must use the same one.
    """

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
        max_envelope_bytes: int = MAX_ENVELOPE_BYTES,
    ) -> None:
        self._conn = conn
        self._layout = layout
        self._check = check
        self._txn_prefix = transactional_id or layout.router_group
        self._on_reject = on_reject
        self._max_batch = max_batch
        self._max_envelope_bytes = max_envelope_bytes
        self._metrics = telemetry.Metrics()
        self._audit = audit
        self.stats = RouterStats()

    async def run(
        self, *, stop: asyncio.Event | None = None, until_idle: float | None = None
    ) -> RouterStats:
        """Route until ``stop`` is set, or until ``until_idle`` seconds pass with nothing new."""
        stop = stop or asyncio.Event()
        producers = PartitionProducers(conn=self._conn, prefix=self._txn_prefix)
        consumer = await self._start_consumer(producers)
        if self._audit is not None:
            with translate_kafka_errors("start router"):
                await self._audit.start()
        last_activity = time.monotonic()
        expiry = outbox_watch(producers=producers, layout=self._layout, audit=self._audit)
        try:
            while not stop.is_set():
                await self._claim_unheld(producers, consumer)
                claims = producers.claims()  # records fetched across a claim are dropped
                with translate_kafka_errors("poll outboxes"):
                    batch = await consumer.getmany(timeout_ms=200, max_records=self._max_batch)
                # Before any commit on a newly assigned partition (see broker.router.expiry).
                async with producers.lock:  # a rebalance waits, as for a routed batch
                    gaps = await report_expired(expiry, consumer, producers)
                self.stats.lost += sum(g.lost for g in gaps)
                if not any(batch.values()):
                    if not producers.settled(consumer):
                        last_activity = time.monotonic()  # joining, claiming: not idle yet
                    elif until_idle is not None and time.monotonic() - last_activity >= until_idle:
                        break
                    continue
                last_activity = time.monotonic()
                try:
                    await self._route_batch(producers, consumer, batch, claims)
                except TransportError as exc:
                    if not exc.retriable:
                        raise
                    log.warning("router transaction aborted, retrying: %s", exc.diagnostics())
                    await asyncio.sleep(0.5)
        finally:
            try:
                await consumer.stop()
            finally:
                await producers.close()
                if self._audit is not None:
                    await self._audit.close()
        return self.stats

    async def _claim_unheld(self, producers: PartitionProducers, consumer: Any) -> None:
        """Claim assigned partitions whose producer we lack (a failed claim, an old fence)."""
        unheld = {tp for tp in consumer.assignment() - producers.held() if producers.may_claim(tp)}
        if unheld:
            async with producers.lock:
                try:
                    await producers.claim(unheld)
                except TransportError as exc:
                    log.warning("router: claiming partitions failed: %s", exc.diagnostics())

    async def _start_consumer(self, producers: PartitionProducers, attempts: int = 8) -> Any:
        """Start the consumer, retrying while a broker is away; producers come per partition."""

        async def start() -> Any:
            consumer = self._conn.consumer(
                group_id=self._layout.router_group, metadata_max_age_ms=5_000
            )
            producers.consumer = consumer
            try:
                with translate_kafka_errors("start router"):
                    await consumer.start()
                    consumer.subscribe(pattern=self._layout.outbox_pattern, listener=producers)
            except TransportError:
                await consumer.stop()
                raise
            return consumer

        return await retry_transport(
            start, what="router start", attempts=attempts, base=0.5, cap=10.0
        )

    async def _route_batch(
        self,
        producers: PartitionProducers,
        consumer: Any,
        batch: dict[Any, list[Any]],
        claims: dict[Any, int],
    ) -> None:
        """Route each partition of ``batch`` in its own transaction, concurrently.

        ``claims`` is :meth:`PartitionProducers.claims` from before the fetch: records of
        a partition claimed since were fetched before its seek, and are fetched again.
        """
        async with producers.lock:  # a rebalance waits until the batch is settled
            jobs: dict[Any, Any] = {}
            now = producers.claims()
            for tp, records in batch.items():
                producer = producers.get(tp)
                if producer is not None and now.get(tp) != claims.get(tp):
                    # Claimed while these were fetched (before or after its seek: unknown):
                    # drop them and read the committed offset again, now that we hold it.
                    try:
                        await producers.reposition(tp)
                    except TransportError:
                        await producers.release({tp})  # claimed again (re-positioned) later
                    continue
                if producer is not None:
                    jobs[tp] = self._route_partition(producer, consumer, tp, records)
                # else: not held (a failed claim, a fence): dropped; _claim_unheld claims the
                # partition and re-seeks it to the committed offset, so they are fetched again.
            results = await asyncio.gather(*jobs.values(), return_exceptions=True)
            failure: BaseException | None = None
            for tp, result in zip(jobs, results, strict=True):
                if isinstance(result, Attempt):
                    self._settled(result, len(batch[tp]))
                elif isinstance(result, TransportError) and fenced(result):
                    log.warning("router: %s[%d] fenced by another router", tp.topic, tp.partition)
                    await producers.release({tp}, was_fenced=True)
                elif failure is None or (isinstance(failure, TransportError) and failure.retriable):
                    failure = result
        if failure is not None:
            raise failure

    def _settled(self, attempt: Attempt, consumed: int) -> None:
        """Audit and count what a committed transaction did (an aborted one did nothing)."""
        if self._audit is not None:
            self._audit.record(attempt.audit)
        self.stats.transactions += 1
        self.stats.consumed += consumed
        self.stats.routed += attempt.routed
        self.stats.rejected += attempt.rejected
        for letter, exc in attempt.letters:
            if self._on_reject is not None:
                self._on_reject(letter, exc)

    async def _route_partition(
        self, producer: Any, consumer: Any, tp: Any, records: list[Any]
    ) -> Attempt:
        # Records of this batch that Kafka refused for good, and what became of them.
        refused: dict[tuple[str, int, int], Error] = {}
        letter_lost: set[tuple[str, int, int]] = set()
        while True:
            attempt = Attempt(refused=refused, letter_lost=letter_lost)
            try:
                return await self._transact(producer, consumer, tp, records, attempt)
            except Refused:
                continue  # the refused records are marked: route the partition's batch again

    async def _transact(
        self, producer: Any, consumer: Any, tp: Any, records: list[Any], attempt: Attempt
    ) -> Attempt:
        """Route one partition's records in one transaction; commit once every write is acked."""
        try:
            with translate_kafka_errors("route transaction"), fatal_producer():
                async with producer.transaction():
                    for record in records:
                        await self._route_one(producer, record, attempt)
                    # Kafka does not fail the transaction when a record is refused: await
                    # every acknowledgement before the offsets join it (any failure aborts).
                    await self._acknowledged(attempt)
                    offsets = {TopicPartition(tp.topic, tp.partition): records[-1].offset + 1}
                    await producer.send_offsets_to_transaction(offsets, self._layout.router_group)
        except TransportError:
            # The transaction was aborted: rewind to the first record so it is routed
            # again (nothing from the aborted transaction is visible to readers).
            # On Refused the caller routes the same records again at once: no rewind.
            with contextlib.suppress(Exception):  # the partition may be revoked meanwhile
                consumer.seek(tp, records[0].offset)
            raise
        return attempt

    async def _acknowledged(self, attempt: Attempt) -> None:
        """Await every send of ``attempt``; mark records the broker refuses for good.

        A retriable failure raises (the batch is retried as a whole); a terminal one
        marks its record — a delivery becomes an ``undeliverable`` dead letter, a dead
        letter becomes a logged and audited loss — and raises :class:`Refused`.
        """
        refused = False
        retriable: TransportError | None = None
        for sent in attempt.sends:
            try:
                with translate_kafka_errors(f"write {sent.topic}"):
                    await sent.future
            except TransportError as exc:
                if fenced(exc):
                    raise  # not this record's fault: another router owns the partition now
                if exc.retriable:
                    retriable = retriable or exc
                    continue
                refused = True
                log.error(  # noqa: TRY400 - the cause is in diagnostics, no traceback wanted
                    "Kafka refused %s for %s@%d: %s",
                    "the dead letter" if sent.dead_letter else "the inbox copy",
                    sent.record.topic,
                    sent.record.offset,
                    exc.diagnostics(),
                )
                if sent.dead_letter:
                    attempt.letter_lost.add(where(sent.record))
                else:
                    attempt.refused[where(sent.record)] = UndeliverableError(
                        "inbox write refused", detail=f"{sent.topic}: {exc.detail}"
                    )
        if retriable is not None:
            raise retriable
        if refused:
            raise Refused

    async def _route_one(self, producer: Any, record: Any, attempt: Attempt) -> None:
        value: bytes = record.value or b""
        try:
            owner = self._layout.agency_of_outbox(record.topic)
        except Error as exc:
            # A topic matching the outbox pattern but naming no valid agency has no
            # rejected topic to go to: it is logged loudly, never routed.
            log.error(  # noqa: TRY400 - the cause is in diagnostics, no traceback wanted
                "unroutable topic %s@%d: %s", record.topic, record.offset, exc.diagnostics()
            )
            attempt.rejected += 1
            return
        parent = telemetry.extract_context(record.headers)
        with telemetry.span(
            "router.route",
            kind=trace.SpanKind.CONSUMER,
            context=parent,
            attributes={"messaging.source": record.topic, "fed.sender": owner},
        ) as current:
            refused = attempt.refused.get(where(record))
            try:
                if refused is not None:
                    raise refused
                if len(value) > self._max_envelope_bytes:
                    # Refused whatever the check would say, before it looks at the bytes:
                    # the inbox copy and its dead letter must always fit in Kafka.
                    raise OversizedEnvelopeError(
                        "envelope rejected",
                        detail=f"{len(value)} bytes > {self._max_envelope_bytes}",
                    )
                route = self._check(value, outbox_owner=owner)
            except Error as exc:
                current.set_attribute("fed.rejected", exc.reason)
                await self._reject(producer, record, owner, exc, attempt)
                return
            current.set_attribute("fed.envelope_id", route.envelope_id)
            headers = telemetry.inject_context([])
            key = record.key if record.key is not None else secrets.token_bytes(16)
            for recipient in route.recipients:
                topic = self._layout.inbox(recipient)
                future = await producer.send(topic, value=value, key=key, headers=headers)
                attempt.sends.append(Send(future=future, record=record, topic=topic))
                self._metrics.routed.add(1, {"fed.recipient": recipient})
            attempt.routed += len(route.recipients)
            if self._audit is not None and route.kind != PART_KIND:  # a dossier: its manifest
                self._note_route(route, hashlib.sha256(value).digest(), attempt)

    def _note_route(self, route: Route, digest: bytes, attempt: Attempt) -> None:
        envelope_id, sender, kind = route.envelope_id, route.sender, route.kind
        attempt.audit.append(
            AuditEvent.route(
                actor=ROUTER,
                envelope_id=envelope_id,
                envelope_sha256=digest,
                sender=sender,
                recipients=route.recipients,
                message_kind=kind,
            )
        )
        attempt.audit.extend(
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

    async def _reject(
        self, producer: Any, record: Any, owner: str, exc: Error, attempt: Attempt
    ) -> None:
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
        if where(record) in attempt.letter_lost:
            # Kafka refused the dead letter itself for good: the loss is logged and audited
            # (REJECT with the record's hash and position) rather than stalling the router.
            log.error(
                "dead letter for %s@%d lost (refused by Kafka); sha256 %s",
                record.topic,
                record.offset,
                letter.envelope_sha256.hex(),
            )
        else:
            topic = self._layout.rejected(owner)
            future = await producer.send(topic, value=letter.to_bytes(), key=record.key)
            attempt.sends.append(Send(future=future, record=record, topic=topic, dead_letter=True))
        self._metrics.rejected.add(1, {"fed.reason": exc.reason, "fed.stage": "router"})
        attempt.rejected += 1
        if self._audit is not None:
            attempt.audit.append(
                AuditEvent.reject(
                    actor=ROUTER,
                    envelope_id=letter.envelope_id,
                    envelope_sha256=letter.envelope_sha256,
                    parties=[owner],
                    reason=exc.reason,
                    where=f"{record.topic}/{record.partition}/{record.offset}",
                )
            )
        attempt.letters.append((letter, exc))
