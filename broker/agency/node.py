"""The agency node: one agency's publisher and inbox behind one small façade.

:class:`AgencyNode` is *given* its Kafka connection (the command line resolves
one with :mod:`broker.connect`), loads nothing else from the network, and
delegates: :class:`~broker.agency.publisher.Publisher` seals and produces to
``<prefix>.outbox.<AGENCY>``, :class:`~broker.agency.inbox.Inbox` consumes
``<prefix>.inbox.<AGENCY>``. Both write the agency's audit stream through one
:class:`~broker.audit.writer.AuditSink`, which the hub uses too.

Example::

    node = AgencyNode.load(settings, agency="ES-PN", conn=connection_for(settings, "ES-PN"))
    async with node:
        result = await node.publish_dossier(dossier, to=["DE-BKA", "EUROPOL"])

    $ broker publish --as ES-PN --to DE-BKA,EUROPOL dossier.json
    $ broker inbox --as DE-BKA --until-idle 5 --json
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from broker import home, telemetry
from broker.agency.inbox import Inbox
from broker.agency.publisher import Publisher
from broker.agency.reassembly import DEFAULT_STREAM_TIMEOUT
from broker.agency.results import ConsumeStats, Handler, PublishResult
from broker.agency.store import AgencyStore
from broker.agency.streaming import StreamPublisher, plan
from broker.audit.writer import AuditLog, AuditSink, load_audit_log
from broker.config import Settings
from broker.envelope import DEFAULT_KEY_GRACE
from broker.envelope.pool import EnvelopePool
from broker.envelope.stream import DEFAULT_MAX_DOSSIER_BYTES
from broker.models import Dossier, MediaReference
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust import AgencyIdentity, TrustStore, load_identity, load_trust

__all__ = ["AgencyNode"]


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
        key_grace: dt.timedelta = DEFAULT_KEY_GRACE,
        max_dossier_bytes: int = DEFAULT_MAX_DOSSIER_BYTES,
        stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
    ) -> None:
        self.identity = identity
        self.agency = identity.agency
        self.trust = trust
        self.conn = conn
        self.layout = layout
        self.store = store
        self.suite = suite
        #: The audit writer (None: this node keeps no audit trail).
        self.audit_log = audit
        #: The one route into this agency's audit stream (the hub writes through it too).
        self.audit = AuditSink(audit)
        # publish_many seals and consume opens in this many forked processes (0: here).
        self._crypto_workers = crypto_workers
        # How long after a sender key was retired its envelopes are still accepted (F10).
        self._key_grace = key_grace
        self._pool: EnvelopePool | None = None
        metrics = telemetry.Metrics()
        self._publisher = Publisher(
            identity=identity,
            trust=trust,
            conn=conn,
            layout=layout,
            store=store,
            audit=self.audit,
            metrics=metrics,
            suite=suite,
            pool=self._crypto_pool,
        )
        self._inbox = Inbox(
            identity=identity,
            trust=trust,
            conn=conn,
            layout=layout,
            store=store,
            publisher=self._publisher,
            audit=self.audit,
            metrics=metrics,
            pool=self._crypto_pool,
            key_grace=key_grace,
        )
        #: Recall and restriction (:mod:`broker.agency.recall`): the hub adds its erasers.
        self.control = self._inbox.control
        self._inbox.streams.max_dossier_bytes = max_dossier_bytes
        self._inbox.streams.timeout = stream_timeout
        self._streamer = StreamPublisher(
            identity=identity,
            trust=trust,
            publisher=self._publisher,
            layout=layout,
            store=store,
            audit=self.audit,
            max_dossier_bytes=max_dossier_bytes,
        )

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        agency: str,
        conn: KafkaConnection,
        passphrase: str | None = None,
        crypto_workers: int = 0,
        trust: TrustStore | None = None,
    ) -> AgencyNode:
        """Load keys, trust, state and the audit log for ``agency`` from the home directory.

        ``trust``: e.g. a :class:`~broker.trust.live.LiveTrust` that follows new members.
        """
        trust = trust or load_trust(settings)
        identity = load_identity(settings, agency=agency, passphrase=passphrase, trust=trust)
        node = cls(
            identity=identity,
            trust=trust,
            conn=conn,
            layout=TopicLayout(prefix=settings.topic_prefix),
            store=AgencyStore.open(home.agency_db(settings, agency)),
            audit=load_audit_log(settings, stream=agency, conn=conn, passphrase=passphrase),
            crypto_workers=crypto_workers,
            key_grace=settings.key_grace,
            max_dossier_bytes=settings.max_dossier_bytes,
            stream_timeout=settings.stream_timeout_s,
        )
        node.control.review_period = dt.timedelta(seconds=settings.review_period_s)
        return node

    async def start(self) -> None:
        """Start the producer (and the audit writer, if any)."""
        await self._publisher.start()
        if self.audit_log is not None:
            await self.audit_log.start()

    async def close(self) -> None:
        """Stop the producer, publish the rest of the audit stream, close the state store."""
        await self._publisher.stop()
        if self.audit_log is not None:
            await self.audit_log.close()
            self.audit_log = None
            self.audit = AuditSink(None)
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._inbox.streams.close()
        self.control.ledger.close()
        self.store.close()

    async def __aenter__(self) -> AgencyNode:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _crypto_pool(self) -> EnvelopePool | None:
        if self._crypto_workers and self._pool is None:
            self._pool = EnvelopePool(
                identity=self.identity,
                trust=self.trust,
                workers=self._crypto_workers,
                key_grace=self._key_grace,
            )
        return self._pool

    async def publish(
        self,
        payload: bytes,
        *,
        kind: str,
        codes: dict[str, Any],
        to: list[str],
        suite: str | None = None,
    ) -> PublishResult:
        """Seal ``payload`` to ``to`` (its own signature); return once Kafka acknowledged."""
        results = await self._publisher.publish(
            [payload], kind=kind, codes=codes, to=to, suite=suite, batch_signature=False
        )
        return results[0]

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
        its inclusion path (:func:`broker.envelope.seal_batch`). With ``crypto_workers``
        the batch is split across forked worker processes, one batch signature per part.
        """
        if not payloads:
            return []
        return await self._publisher.publish(
            payloads, kind=kind, codes=codes, to=to, suite=suite, batch_signature=True
        )

    async def publish_dossier(
        self, dossier: Dossier, *, to: list[str], suite: str | None = None
    ) -> PublishResult:
        """Publish a dossier."""
        return await self.publish(
            dossier.to_bytes(), kind="DOSSIER", codes=dossier.codes.to_avro(), to=to, suite=suite
        )

    async def publish_large(
        self,
        dossier: Dossier,
        *,
        media: Iterable[MediaReference] = (),
        attachments: Sequence[Path] = (),
        to: list[str],
        suite: str | None = None,
    ) -> PublishResult:
        """Publish ``dossier`` plus ``media`` (read lazily) and ``attachments`` (files).

        One envelope if it fits (:func:`broker.agency.streaming.plan`), else streamed.
        """
        whole, small, rest = plan(dossier, media, attachments)
        if whole is not None:
            return await self.publish_dossier(whole, to=to, suite=suite)
        return await self._streamer.publish(
            small, media=rest, attachments=attachments, to=to, suite=suite or self.suite
        )

    async def consume(
        self,
        *,
        handler: Handler | None = None,
        stop: asyncio.Event | None = None,
        until_idle: float | None = None,
        send_receipts: bool = True,
        after_accept: Callable[[Sequence[str]], None] | None = None,
    ) -> ConsumeStats:
        """Consume our inbox until ``stop`` is set or ``until_idle`` seconds pass idle.

        ``after_accept``: see :meth:`broker.agency.inbox.Inbox.consume` (a fault-injection seam).
        """
        return await self._inbox.consume(
            handler=handler,
            stop=stop,
            until_idle=until_idle,
            send_receipts=send_receipts,
            after_accept=after_accept,
        )
