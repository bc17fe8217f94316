"""Records that expired before their consumer read them: a loud, audited loss, never a silent skip.

When a consumer stays away longer than its topic's retention, Kafka deletes
records it never read; on return its committed offset lies below the
partition's earliest offset and aiokafka resumes at the earliest one
(``auto_offset_reset``) without a word. :class:`ExpiryWatch` checks every newly
assigned partition before its first commit and, for each :class:`~broker.retention.Gap`,

1. logs an error naming the lost offsets,
2. writes a dead letter to the owner's ``<prefix>.rejected.<AGENCY>`` (reason
   ``expired-unread``, no content — it is gone — and the range in its detail) and
   waits for its ack,
3. journals a ``REJECT`` audit event with outcome ``lost`` and the range as ``ref``,
4. commits the earliest offset, so the same loss is reported once,

then consumption goes on. Two consumers run it: an agency's inbox (the owner is the
agency itself) and the router on every outbox (the owner is the outbox's agency;
the dead letter and the offset commit go in one Kafka transaction, ``scope``).

Example::

    watch = ExpiryWatch(actor="ES-PN", layout=layout, owner_of=lambda topic: "ES-PN",
                        produce=..., audit=..., commit=...)
    gaps = await watch.check(consumer)  # each call: only partitions not yet checked
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiokafka import TopicPartition

from broker.audit.events import AuditEvent
from broker.deadletter import DeadLetter
from broker.errors import Error, RecordsExpiredError
from broker.retention import Gap, find_gaps
from broker.topics import TopicLayout
from broker.transport import translate_kafka_errors

__all__ = ["ExpiryWatch"]

log = logging.getLogger(__name__)


class ExpiryWatch:
    """Turn expired-unread gaps of a consumer's partitions into audited losses.

    ``actor`` reports the loss (audit actor, dead letter's ``rejected_by``);
    ``owner_of`` maps a source topic to the agency whose records were lost (its
    rejected topic gets the dead letter; it is the audit event's party).
    ``transactional``: whether the source topics are written in transactions (see
    :func:`~broker.retention.find_gaps`). ``scope`` wraps each report (dead letter,
    audit, commit): the router passes its producer's ``transaction``.
    """

    def __init__(
        self,
        *,
        actor: str,
        layout: TopicLayout,
        owner_of: Callable[[str], str],
        produce: Callable[..., Awaitable[Any]],
        audit: Callable[[AuditEvent], None],
        commit: Callable[[TopicPartition, int], Awaitable[None]],
        stage: str = "CONSUMER",
        transactional: bool = True,
        scope: Callable[[], AbstractAsyncContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self._actor = actor
        self._layout = layout
        self._owner_of = owner_of
        self._produce = produce
        self._audit = audit
        self._commit = commit
        self._stage = stage
        self._transactional = transactional
        self._scope = scope
        self._checked: set[TopicPartition] = set()

    async def check(self, consumer: Any) -> list[Gap]:
        """Report the gaps of partitions assigned since the last call; return them."""
        assigned: set[TopicPartition] = set(consumer.assignment())
        self._checked &= assigned  # a partition revoked and assigned again is checked again
        fresh = assigned - self._checked
        gaps = await find_gaps(consumer, fresh, transactional=self._transactional)
        for gap in gaps:
            with translate_kafka_errors("report records expired unread"):
                async with self._scope():
                    await self._report(gap)
        self._checked |= fresh
        return gaps

    async def _report(self, gap: Gap) -> None:
        error = RecordsExpiredError(f"{gap.lost} record(s) expired unread", detail=gap.describe())
        log.error("%s LOST %s: %s", self._actor, gap.where, gap.describe())
        try:
            owner = self._owner_of(gap.topic)
        except Error as exc:
            # A topic naming no valid agency has no rejected topic: the log and the audit
            # event carry the loss.
            log.error(  # noqa: TRY400 - the cause is in diagnostics, no traceback wanted
                "%s: no dead letter for %s: %s", self._actor, gap.where, exc.diagnostics()
            )
            owner = None
        if owner is not None:
            letter = DeadLetter.for_record(
                original=b"",
                key=None,
                topic=gap.topic,
                partition=gap.partition,
                offset=gap.committed,
                stage=self._stage,
                rejected_by=self._actor,
                reason=error.reason,
                detail=error.diagnostics(),
            )
            rejected = self._layout.rejected(owner)
            future = await self._produce(rejected, value=letter.to_bytes(), key=None)
            with translate_kafka_errors("dead-letter"):
                await future
        self._audit(
            AuditEvent.lost(actor=self._actor, reason=error.reason, where=gap.where, owner=owner)
        )
        await self._commit(TopicPartition(gap.topic, gap.partition), gap.earliest)
