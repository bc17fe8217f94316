"""The audit writer: journal events, publish them to ``fed.audit``, sign checkpoints.

Every node owns one stream (its agency id, ``router`` or ``federation``). The
node calls :meth:`AuditLog.emit`, which journals the event durably and at once
(:mod:`broker.audit.journal`); a background task publishes journaled events to
``<prefix>.audit`` keyed by stream (so a stream stays in one partition, in
order) and then, when the tree grew, signs a checkpoint (with a ``time <unix seconds>``
extension line, :data:`~broker.audit.checkpoint.TIME_EXTENSION`) — every
``every_events`` events or ``every_seconds`` seconds, whichever comes first —
and publishes it as an ``eu.fed.AuditCheckpoint`` record. An unchanged
checkpoint is re-signed with the current time and re-published every
``republish_seconds``, so that silence — and a rollback to an older prefix — is
visible. A stream with no event yet signs the empty tree (size 0) when it starts.
The newest note is also written to ``<state>/<stream>/audit-checkpoint.note``:
a copy outside the broker for the auditor's truncation check.

If Kafka is away, events wait in the journal and go out on the next flush;
nothing is lost. Several processes writing the same stream serialise their
flushes with a file lock, so Kafka sees each stream in sequence order.

Example::

    log = AuditLog.load(settings, stream="ES-PN")
    await log.start()
    log.emit(AuditKind.PUBLISH, actor="ES-PN", envelope_id=..., parties=[...])
    await log.close()      # publishes the rest and a final checkpoint
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker import home, merkle
from broker.audit.checkpoint import REPUBLISH_SECONDS, TIME_EXTENSION, Checkpoint, open_checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, AuditEvent, AuditKind, origin_for
from broker.audit.journal import AuditJournal
from broker.audit.keys import load_audit_signer
from broker.audit.note import sign_note
from broker.audit.signers import NoteSigner
from broker.codec import SchemaStore
from broker.config import Settings
from broker.errors import Error
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors

__all__ = ["AuditLog", "AuditSink", "CheckpointPolicy", "load_audit_log"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CheckpointPolicy:
    """When to sign and re-publish checkpoints."""

    every_events: int = 1000
    every_seconds: float = 5.0
    republish_seconds: float = REPUBLISH_SECONDS


class AuditLog:
    """One stream's writer (see the module docstring)."""

    def __init__(
        self,
        *,
        journal: AuditJournal,
        signer: NoteSigner | None,
        conn: KafkaConnection,
        topic: str,
        policy: CheckpointPolicy | None = None,
        checkpoint_copy: Path | None = None,
    ) -> None:
        self.journal = journal
        self.stream = journal.stream
        self._signer = signer
        self._conn = conn
        self._topic = topic
        self._policy = policy or CheckpointPolicy()
        self._copy = checkpoint_copy
        self._producer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._started_at = time.time()
        self._closing = asyncio.Event()
        self._file_lock = journal.path.with_suffix(".lock")
        self.failures = 0

    # -- lifecycle ----------------------------------------------------------------------

    async def _ensure_producer(self) -> None:
        if self._producer is None:
            producer = self._conn.producer(client_id=f"audit-{self.stream}")
            try:
                with translate_kafka_errors("start audit producer"):
                    await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer

    async def start(self) -> None:
        """Start the producer and the background publisher."""
        await self._ensure_producer()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"audit-{self.stream}")

    async def close(self) -> None:
        """Publish what is journaled plus a final checkpoint; stop; close the journal."""
        if self._task is not None:
            # Ask the publisher to finish its round and stop; no cancellation (Python 3.11's
            # wait_for can swallow a cancel that races with the event it waits for).
            self._closing.set()
            self._wake.set()
            await self._task
            self._task = None
        try:
            await self.flush(force_checkpoint=True)
        except Error as exc:
            log.warning("audit %s: final flush failed, kept in journal: %s", self.stream, exc)
        finally:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
            self.journal.close()

    async def __aenter__(self) -> AuditLog:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- writing ------------------------------------------------------------------------

    def emit(self, kind: AuditKind, **fields: Any) -> AuditEvent:
        """Journal one untyped event now (tests and tools; emitters use :meth:`record`)."""
        return self.record([AuditEvent.new(kind, **{"actor": self.stream, **fields})])[0]

    def record(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Journal events built by the typed constructors, in one transaction, durably.

        They are published in the background; the journal assigns ``seq`` and chains them.
        """
        if not events:
            return []
        placed = self.journal.append_many(list(events))
        self._wake.set()
        return placed

    async def _run(self) -> None:
        tick = min(self._policy.every_seconds, 1.0)
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing.is_set():
                return  # close() does the final flush
            try:
                await self.flush()
            except Error as exc:
                self.failures += 1
                log.warning("audit %s: publish failed, will retry: %s", self.stream, exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(tick):
                        await self._wake.wait()

    @contextlib.asynccontextmanager
    async def _stream_lock(self) -> AsyncIterator[None]:
        """Exclusive across processes writing this stream (fcntl lock, polled)."""
        home.private_dir(self._file_lock.parent)
        fd = os.open(self._file_lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.005)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    async def flush(self, *, force_checkpoint: bool = False) -> None:
        """Publish journaled events, then a checkpoint if due (or forced and the tree grew)."""
        await self._ensure_producer()
        async with self._lock, self._stream_lock():
            pending = self.journal.unpublished()
            if pending:
                with translate_kafka_errors("publish audit events"):
                    futures = [
                        await self._producer.send(self._topic, value=v, key=self.stream.encode())
                        for _, v in pending
                    ]
                    await asyncio.gather(*futures)
                self.journal.mark_published(pending[-1][0])
            await self._checkpoint(force=force_checkpoint)

    def _sign(self, size: int, root: bytes, now: float) -> bytes:
        assert self._signer is not None  # noqa: S101 - callers check
        body = Checkpoint(
            origin=origin_for(self.stream),
            size=size,
            root=root,
            extensions=(f"{TIME_EXTENSION}{int(now)}",),  # signed time: rollback is visible
        )
        return sign_note(body.to_note_body(), [self._signer])

    async def _checkpoint(self, *, force: bool) -> None:
        policy = self._policy
        now = time.time()
        last = self.journal.latest_checkpoint()
        head = self.journal.settled_head()
        last_size = last.size if last else 0
        since = now - (last.created_at if last else self._started_at)
        if self._signer is not None and last is None and self.journal.size == 0:
            # An empty stream still shows that it exists (and when): the empty tree.
            self.journal.add_checkpoint(size=0, note=self._sign(0, merkle.EMPTY_ROOT, now))
            last = self.journal.latest_checkpoint()
        elif self._signer is not None and head is not None and head[0] > last_size:
            size, root = head
            if force or size - last_size >= policy.every_events or since >= policy.every_seconds:
                self.journal.add_checkpoint(size=size, note=self._sign(size, root, now))
                last = self.journal.latest_checkpoint()
        if last is None:
            return
        due = last.published_at is None or now - last.published_at >= policy.republish_seconds
        if due:
            note = last.note
            if self._signer is not None and last.published_at is not None:
                # Re-sign the unchanged tree with the current time: the freshest signed time
                # tells an auditor the stream was not rolled back to an older prefix.
                mine = open_checkpoint(
                    note, log=self._signer.verifier(), origin=origin_for(self.stream)
                )
                note = self._sign(last.size, mine.checkpoint.root, now)
                self.journal.renew_checkpoint(size=last.size, note=note)
            await self._publish_checkpoint(last.size, note)
            self.journal.mark_checkpoint_published(last.size)

    async def _publish_checkpoint(self, size: int, note: bytes) -> None:
        value = SchemaStore.default().encode(
            CHECKPOINT_SCHEMA,
            {"stream": self.stream, "size": size, "note": note, "at": dt.datetime.now(dt.UTC)},
        )
        with translate_kafka_errors("publish audit checkpoint"):
            await self._producer.send_and_wait(self._topic, value=value, key=self.stream.encode())
        if self._copy is not None:
            home.write_private(self._copy, note)


def load_audit_log(
    settings: Settings,
    *,
    stream: str,
    conn: KafkaConnection,
    policy: CheckpointPolicy | None = None,
    passphrase: str | None = None,
) -> AuditLog:
    """Open ``stream``'s journal and audit key under the home directory."""
    return AuditLog(
        journal=AuditJournal.open(home.audit_journal(settings, stream), stream=stream),
        signer=load_audit_signer(settings, stream=stream, passphrase=passphrase),
        conn=conn,
        topic=TopicLayout(prefix=settings.topic_prefix).audit,
        policy=policy,
        checkpoint_copy=home.checkpoint_copy(settings, stream),
    )


class AuditSink:
    """The one route by which a node's components write its audit stream.

    The agency node hands the same sink to its publisher, its inbox and the hub;
    with no audit log configured (tests, benchmarks of the bare pipeline) it
    records nothing. Events are built by :class:`AuditEvent`'s typed constructors.
    """

    def __init__(self, log: AuditLog | None) -> None:
        self._log = log

    @property
    def enabled(self) -> bool:
        """Whether events are kept at all."""
        return self._log is not None

    def record(self, *events: AuditEvent) -> None:
        """Journal ``events`` in one transaction (durable before this returns)."""
        if self._log is not None and events:
            self._log.record(events)
