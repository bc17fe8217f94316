"""The inbox: consume ``<prefix>.inbox.<AGENCY>`` a fetched batch at a time.

Consumer group ``<prefix>.agency.<AGENCY>``, ``read_committed``. For each fetched
batch (the records of one partition from one poll):

1. :meth:`Inbox.dispatch`, per record: verify and decrypt (or take the crypto
   worker's verdict), validate the payload (a dossier with pydantic, a receipt by
   its signer); what fails is dead-lettered to ``<prefix>.rejected.<AGENCY>``
   with the precise reason (:mod:`broker.agency.rejects`) and consumption goes on;
2. ONE SQLite transaction (:meth:`~broker.agency.store.AgencyStore.accept_many`):
   the replay check for the whole batch (persistent seen-set, plus duplicates
   within the batch), the seen-marks, the senders' sequence numbers, the stored
   payloads, and a ``pending_handler`` mark per delivery;
3. the handler, for each delivery, in order; then ONE transaction clears the marks;
4. the batch is settled: dead letters acknowledged, signed receipts
   (:mod:`broker.agency.receipts`) acknowledged, the audit events journaled in one
   transaction — and only then is the offset committed.

**Exactly once.** The store is the exactly-once record. A crash before step 2's commit re-
delivers the batch from Kafka and nothing of it was marked. A crash after it leaves the marks:
at start-up, before polling, :meth:`Inbox.consume` hands every still-pending delivery to the
handler again *from the store* (never from Kafka — the re-delivered records are refused as
replays), then audits, receipts and clears it. A handler is called once per delivery unless the
process dies while the handler runs or before step 3's commit (then again at start-up):
handlers get the envelope id to be idempotent on, as before.

**A failing handler.** A handler that raises one of our errors (:class:`broker.errors.Error`)
that is not ``retriable`` refuses that delivery: it is dead- lettered with the error's reason,
a REJECTED receipt goes back, the stored payload is removed from the inbox, and the seen-mark
is *kept* — a re-sent copy is refused as a replay, the sender learns from the receipt. Anything
else a handler raises (a retriable error such as Kafka being away, a bug, a cancellation,
``SystemExit``) is no verdict on the delivery: it stops the consumer with that exception, the
deliveries not yet handled stay pending, and the next start hands them over again (a handler
that always fails fails again at each start — the delivery is never dropped, and never
skipped).

Example::

    stats = await inbox.consume(handler=my_handler, until_idle=5.0)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Container, Sequence
from typing import Any

from aiokafka import TopicPartition

from broker import telemetry
from broker._internal.retry import retry_transport
from broker.agency.acceptance import Acceptance
from broker.agency.batch import Admitted, Settlement, record_time, resume_text, resumed, settle
from broker.agency.opening import Opener
from broker.agency.publisher import Publisher
from broker.agency.reassembly import Reassembly
from broker.agency.recall import ControlDesk
from broker.agency.receipts import Receipts
from broker.agency.rejects import Rejects, validated_dossier
from broker.agency.results import ConsumeStats, Delivery, Handler
from broker.agency.store import AgencyStore
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditSink
from broker.envelope import DEFAULT_KEY_GRACE, OpenedEnvelope, Verifier
from broker.envelope.pool import EnvelopePool
from broker.errors import Error, ReplayError
from broker.expiry import ExpiryWatch
from broker.models import Dossier
from broker.retention import EXPIRED_UNREAD
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, skip_if_partition_moved, translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["Inbox"]


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
        key_grace: dt.timedelta = DEFAULT_KEY_GRACE,
    ) -> None:
        self.agency = identity.agency
        self._conn = conn
        self._layout = layout
        self._store = store
        self._publisher = publisher
        self._audit = audit
        self._metrics = metrics
        self._pool = pool
        self._receipts = Receipts(agency=self.agency, publisher=publisher)
        self._rejects = Rejects(
            agency=self.agency, layout=layout, publisher=publisher, metrics=metrics
        )
        self.streams = Reassembly.beside(store, publisher=publisher, layout=layout, audit=audit)
        #: Recall and restriction: orders applied, answers recorded, recalled ids refused.
        self.control = ControlDesk.beside(store, publisher=publisher, audit=audit)
        self.control.erasers.append(self.streams.erase)  # a streamed dossier's parts
        # Sender keys are judged at receive time too (a retired key cannot back-date).
        self._verifier = Verifier(trust=trust, key_grace=key_grace)
        self._opener = Opener(verifier=self._verifier, identity=identity, metrics=metrics)

    async def consume(
        self,
        *,
        handler: Handler | None = None,
        stop: asyncio.Event | None = None,
        until_idle: float | None = None,
        send_receipts: bool = True,
        after_accept: Callable[[Sequence[str]], None] | None = None,
    ) -> ConsumeStats:
        """Consume until ``stop`` is set or ``until_idle`` seconds pass with nothing new.

        ``after_accept`` is called with the envelope ids of each batch's deliveries just
        committed, before their handlers run: a fault-injection seam (the chaos rig's
        ``kill-after-accept`` scenario kills the process there).
        """
        stop = stop or asyncio.Event()
        stats = ConsumeStats()
        await self._publisher.start()
        work = Settlement()
        try:  # what a crash left pending first, from the store, before anything new
            await self._resume(handler, stats, send_receipts, work)
            self.streams.release_handled(self._store.handled_among)
        finally:
            done, work = work, Settlement()
            await self._settle(done)
        consumer = self._conn.consumer(
            self._layout.inbox(self.agency),
            group_id=self._layout.consumer_group(self.agency),
            client_id=f"{self.agency}-inbox",
        )
        with translate_kafka_errors("start inbox consumer"):
            await consumer.start()
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
                    self._audit.record(*self.control.sweep_retention())  # past their review
                    if until_idle is not None and time.monotonic() - last >= until_idle:
                        break
                    continue
                last = time.monotonic()
                pool = self._pool()
                for tp, records in fetched.items():
                    # With workers, every check of Verifier.open runs there, in parallel;
                    # what follows (validation, store, handler, commit) stays in order here.
                    opened = (
                        await pool.open([r.value or b"" for r in records])
                        if pool is not None and len(records) > 1
                        else [None] * len(records)
                    )
                    await self._batch(
                        records, opened, handler, stats, send_receipts, work, after_accept
                    )
                    # Audit, then commit, once every record was handled or dead-lettered (a
                    # crash before the commit re-delivers: replays; the store has the rest).
                    done, work = work, Settlement()
                    await self._settle(done)
                    await self._commit(consumer, tp, records[-1].offset + 1)
        finally:
            try:
                await self._settle(work)
            finally:
                await consumer.stop()
        return stats

    def _expiry_watch(self, consumer: Any) -> ExpiryWatch:
        """Return the watch that turns records expired unread into audited losses."""

        async def commit(tp: TopicPartition, offset: int) -> None:
            await self._commit(consumer, tp, offset)

        return ExpiryWatch(
            actor=self.agency,
            layout=self._layout,
            owner_of=lambda _topic: self.agency,
            produce=lambda _source, topic, **kw: self._publisher.produce(topic, **kw),
            audit=self._audit.record,
            commit=commit,
        )

    async def _settle(self, work: Settlement) -> None:
        await settle(work, agency=self.agency, publisher=self._publisher, audit=self._audit)

    async def _commit(self, consumer: Any, tp: Any, offset: int) -> None:
        """Commit an offset, retrying while the broker is away (it is idempotent); skipped if
        the group moved ``tp`` to another inbox process (it refuses what we stored as replays).
        """

        async def commit() -> None:
            with skip_if_partition_moved(f"{self.agency} {tp.topic}[{tp.partition}]"):
                with translate_kafka_errors("commit inbox offsets"):
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): offset})

        await retry_transport(commit, what="commit", attempts=20, base=0.2, cap=5.0)

    async def _batch(
        self,
        records: Sequence[Any],
        opened: Sequence[OpenedEnvelope | Error | None],
        handler: Handler | None,
        stats: ConsumeStats,
        send_receipts: bool,
        work: Settlement,
        after_accept: Callable[[Sequence[str]], None] | None,
    ) -> None:
        """Dispatch, accept (one transaction), hand over and clear one fetched batch."""
        with telemetry.batch_span(
            "agency.deliver_batch",
            headers=[r.headers for r in records],
            attributes={
                "fed.recipient": self.agency,
                "messaging.batch.message_count": len(records),
            },
        ) as current:
            admitted: list[Admitted] = []
            opened = self._opener.batch(records, opened)  # all first: ONE recall query
            recalled = self.control.recalled_among(o for o in opened if o is not None)
            for record, pre in zip(records, opened, strict=True):
                item = await self.dispatch(record, pre, stats, send_receipts, work, recalled)
                if item is not None:
                    admitted.append(item)
            if current.is_recording():
                ids = [a.opened.header.envelope_id for a in admitted]
                current.set_attribute("fed.envelope_ids", ids)
            gaps = self._store.accept_many([a.acceptance for a in admitted]) if admitted else []
            fresh: list[Admitted] = []
            for item, gap in zip(admitted, gaps, strict=True):
                if gap is not None:
                    fresh.append(item)
                    continue
                header = item.opened.header
                replay = ReplayError(
                    "envelope already received",
                    detail=f"envelope {header.envelope_id} from {header.sender} seen before",
                )
                await self._rejects.reject(item.record, replay, item.opened, stats, work)
            if after_accept is not None:
                handed = [i.opened.header.envelope_id for i in fresh if i.delivery is not None]
                if handed:
                    after_accept(handed)
            await self._deliver(fresh, handler, stats, send_receipts, work)

    async def dispatch(
        self,
        record: Any,
        pre: OpenedEnvelope | Error | None,
        stats: ConsumeStats,
        send_receipts: bool,
        work: Settlement,
        recalled: Container[tuple[str, str]] | None = None,
    ) -> Admitted | None:
        """Check one record on its own: open it, validate what it carries; None if refused.

        The one per-record step of a batch (a reassembly step for chunked dossiers
        fits here, after opening): a record it returns is accepted with its batch.
        ``recalled``: the batch's recalled (sender, envelope id) keys, if looked up.
        """
        sha256 = hashlib.sha256(record.value or b"").digest()
        current: OpenedEnvelope | None = None
        try:
            if self.streams.take(record):  # a streamed dossier's part: stored, no receipt
                return None
            pre = self._opener.one(record) if pre is None else pre
            if isinstance(pre, Error):
                raise pre  # the verdict of opening (ours or the worker's), dead-lettered
            current = pre
            self.control.refuse_recalled(current.header, among=recalled)  # any copy, for good
            return self._admit(record, current, sha256)
        except Error as exc:
            await self._rejects.reject(record, exc, current, stats, work)
            # No receipt for a replay (as in _batch): the sender had the original's verdict.
            if send_receipts and current is not None and not isinstance(exc, ReplayError):
                await self._receipts.send(
                    current, sha256=sha256, status="REJECTED", reason=exc.reason, work=work
                )
            return None

    def _admit(self, record: Any, opened: OpenedEnvelope, sha256: bytes) -> Admitted:
        """Validate what ``opened`` carries; return it ready to accept with its batch."""
        header = opened.header
        events: list[AuditEvent] = []
        receipt = delivery = None
        if header.kind == "RECEIPT":
            receipt, event = self._receipts.take(opened)
            events.append(event)
        if receipt is None:
            dossier = self._dossier(opened) if header.kind == "DOSSIER" else None
            delivery = Delivery(
                opened=opened,
                dossier=dossier,
                envelope_sha256=sha256.hex(),
                received_at=record_time(record),
            )
        # Stamped now, before the handler runs: what the handler causes (the hub's
        # HIT_NOTIFICATION events) is then never dated before the OPEN behind it.
        events.append(self._open_event(opened, sha256))
        acceptance = Acceptance(
            envelope_id=header.envelope_id,
            sender=header.sender,
            sequence=header.sequence,
            expires_at=header.expires_at.timestamp(),
            kind=header.kind,
            provenance=opened.provenance(),
            payload=None if receipt else opened.payload,
            resume=None if receipt else resume_text(opened, sha256=sha256, record=record),
            receipt=receipt,
        )
        return Admitted(
            record=record,
            opened=opened,
            sha256=sha256,
            acceptance=acceptance,
            delivery=delivery,
            events=events,
        )

    async def _deliver(
        self,
        items: Sequence[Admitted],
        handler: Handler | None,
        stats: ConsumeStats,
        send_receipts: bool,
        work: Settlement,
    ) -> None:
        """Hand accepted deliveries over in order, then clear their marks in one transaction.

        A non-retriable :class:`Error` from the handler refuses that delivery (module
        docstring); anything else propagates, after the marks of those already handled are cleared.
        """
        done: list[tuple[str, str]] = []
        failed: list[tuple[str, str]] = []
        try:
            for item in items:
                if item.delivery is None:  # a receipt: recorded, nothing to hand over
                    work.audit.extend(item.events)
                    stats.receipts += 1
                    continue
                key = item.acceptance.key
                try:
                    await self.control.take(item.opened, work=work)  # CONTROL / COMPLIANCE
                    if handler is not None:
                        await handler(item.delivery)
                except Error as exc:
                    if exc.retriable:  # not a verdict on the delivery: it stays pending
                        raise
                    failed.append(key)
                    await self._rejects.reject(
                        item.record, exc, item.opened, stats, work, sha256=item.sha256
                    )
                    if send_receipts:
                        await self._receipts.send(
                            item.opened,
                            sha256=item.sha256,
                            status="REJECTED",
                            reason=exc.reason,
                            work=work,
                        )
                    continue
                done.append(key)
                work.audit.extend(item.events)
                stats.delivered += 1
                self._metrics.delivered.add(1, {"fed.kind": item.opened.header.kind})
                if send_receipts:
                    await self._receipts.send(
                        item.opened, sha256=item.sha256, status="DELIVERED", reason=None, work=work
                    )
        finally:
            self._store.handled(done, failed=failed)
            self.streams.release([*done, *failed])  # only after the commit above

    async def _resume(
        self, handler: Handler | None, stats: ConsumeStats, send_receipts: bool, work: Settlement
    ) -> None:
        """Hand over again, from the store, what a crash left between accept and handled."""
        items: list[Admitted] = []
        refused: list[tuple[str, str]] = []
        for row in self._store.pending():
            opened, sha256, position = resumed(row)
            try:  # it validated when accepted; a newer release may judge it otherwise
                dossier = self._dossier(opened) if row.kind == "DOSSIER" else None
            except Error as exc:
                refused.append((row.sender, row.envelope_id))
                await self._rejects.reject(position, exc, opened, stats, work, sha256=sha256)
                continue
            acceptance = Acceptance(
                envelope_id=row.envelope_id,
                sender=row.sender,
                sequence=opened.header.sequence,
                expires_at=opened.header.expires_at.timestamp(),
                kind=row.kind,
                provenance=row.provenance,
                payload=row.payload,
            )
            delivery = Delivery(
                opened=opened,
                dossier=dossier,
                envelope_sha256=sha256.hex(),
                received_at=record_time(position),
            )
            events = [self._open_event(opened, sha256)]
            items.append(
                Admitted(
                    record=position,
                    opened=opened,
                    sha256=sha256,
                    acceptance=acceptance,
                    delivery=delivery,
                    events=events,
                )
            )
        self._store.handled([], failed=refused)
        await self._deliver(items, handler, stats, send_receipts, work)

    def _dossier(self, opened: OpenedEnvelope) -> Dossier:
        """A streamed dossier assembled and verified from its stored parts, or the one inline."""
        return self.streams.dossier(opened) or validated_dossier(opened, agency=self.agency)

    def _open_event(self, opened: OpenedEnvelope, sha256: bytes) -> AuditEvent:
        header = opened.header
        return AuditEvent.open(
            actor=self.agency,
            envelope_id=header.envelope_id,
            envelope_sha256=sha256,
            sender=header.sender,
            codes=header.codes,
            message_kind=header.kind,
            ref=self.streams.ref(opened),
        )
